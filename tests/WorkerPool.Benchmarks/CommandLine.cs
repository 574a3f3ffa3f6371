using System.Globalization;

namespace WorkerPool.Benchmarks;

/// <summary>Reads the options of the console measurements (<c>--launches N</c> and the like) from the command line.</summary>
internal static class CommandLine
{
    /// <summary>The value that follows <paramref name="option"/>, or null when the option is not given.</summary>
    public static string? Value(string[] args, string option)
    {
        int at = Array.IndexOf(args, option);
        if (at < 0)
        {
            return null;
        }

        return at + 1 < args.Length ? args[at + 1] : throw new ArgumentException($"{option} needs a value.", nameof(args));
    }

    public static int PositiveInt(string option, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) && parsed > 0
            ? parsed
            : throw new ArgumentException($"{option} takes a positive whole number; got '{value}'.", nameof(value));
}
