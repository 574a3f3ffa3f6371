namespace LeakDemo;

/// <summary>The error a failing sub-job ends with: the simulated downstream call returned an error.</summary>
public sealed class SubJobFailedException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public SubJobFailedException()
        : this("A sub-job failed.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public SubJobFailedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public SubJobFailedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
