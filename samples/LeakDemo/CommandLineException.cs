namespace LeakDemo;

/// <summary>A command-line argument is invalid. The message says which and why.</summary>
public sealed class CommandLineException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public CommandLineException()
        : this("Invalid command line.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong, naming the flag.</param>
    public CommandLineException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">What is wrong, naming the flag.</param>
    /// <param name="innerException">The cause.</param>
    public CommandLineException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
