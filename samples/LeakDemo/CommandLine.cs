using System.Globalization;

namespace LeakDemo;

/// <summary>The parsed command line.</summary>
/// <param name="Options">The demo's settings.</param>
/// <param name="CsvPath">Where to write the time series, or <see langword="null"/>.</param>
/// <param name="ShowHelp">Whether <c>--help</c> was given.</param>
public sealed record CommandLineArguments(LeakDemoOptions Options, string? CsvPath, bool ShowHelp);

/// <summary>Parses and validates the demo's flags.</summary>
public static class CommandLine
{
    /// <summary>The most requests the demo accepts per endpoint.</summary>
    public const int MaxRequests = 100_000;

    /// <summary>The most concurrent requests the demo accepts.</summary>
    public const int MaxConcurrency = 1_000;

    /// <summary>The usage text.</summary>
    public static readonly string Usage = string.Create(CultureInfo.InvariantCulture, $"""
        Usage: LeakDemo [--requests N] [--concurrency N] [--csv PATH]

          --requests N      requests sent to each endpoint, 1..{MaxRequests:N0} (default {new LeakDemoOptions().Requests:N0})
          --concurrency N   requests in flight at once, 1..{MaxConcurrency:N0} and at most --requests (default {new LeakDemoOptions().Concurrency})
          --csv PATH        also write the time series (endpoint,t_ms,live_tasks,active_workers,heap_bytes,working_set_bytes)
          --help            show this text
        """);

    /// <summary>Parses <paramref name="args"/>. Flags take their value as the next argument or after <c>=</c>.</summary>
    /// <param name="args">The command-line arguments.</param>
    /// <returns>The parsed arguments.</returns>
    /// <exception cref="CommandLineException">A flag is unknown, repeated, missing its value, or has a value out of range.</exception>
    public static CommandLineArguments Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new LeakDemoOptions();
        int? requests = null;
        int? concurrency = null;
        string? csv = null;
        bool help = false;
        var seen = new HashSet<string>(StringComparer.Ordinal);

        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string flag = arg;
            string? value = null;
            int equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 0)
            {
                flag = arg[..equals];
                value = arg[(equals + 1)..];
            }

            if (flag is "--help" or "-h" or "-?")
            {
                help = true;
                continue;
            }

            if (flag is not ("--requests" or "--concurrency" or "--csv"))
            {
                throw new CommandLineException(arg.StartsWith('-')
                    ? $"unknown flag '{flag}'."
                    : $"unexpected argument '{arg}'; every value must follow its flag.");
            }

            if (!seen.Add(flag))
            {
                throw new CommandLineException($"{flag} was given more than once.");
            }

            if (value is null)
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new CommandLineException($"{flag} needs a value.");
                }

                value = args[++i];
            }

            switch (flag)
            {
                case "--requests":
                    requests = ParseCount(flag, value, MaxRequests);
                    break;
                case "--concurrency":
                    concurrency = ParseCount(flag, value, MaxConcurrency);
                    break;
                default:
                    csv = CheckCsvPath(value);
                    break;
            }
        }

        options = options with
        {
            Requests = requests ?? options.Requests,
            Concurrency = concurrency ?? Math.Min(options.Concurrency, requests ?? options.Requests),
        };
        if (options.Concurrency > options.Requests)
        {
            throw new CommandLineException($"--concurrency ({options.Concurrency:N0}) must not exceed --requests ({options.Requests:N0}).");
        }

        return new CommandLineArguments(options, csv, help);
    }

    private static int ParseCount(string flag, string value, int max)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count < 1 || count > max)
        {
            throw new CommandLineException($"{flag} must be a whole number from 1 to {max.ToString("N0", CultureInfo.InvariantCulture)}, but was '{value}'.");
        }

        return count;
    }

    private static string CheckCsvPath(string value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new CommandLineException("--csv needs a file path.");
        }

        string path;
        try
        {
            path = Path.GetFullPath(value);
        }
        catch (Exception exception) when (exception is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new CommandLineException($"--csv: '{value}' is not a valid path ({exception.Message}).");
        }

        if (Directory.Exists(path))
        {
            throw new CommandLineException($"--csv: '{value}' is a directory; give a file path.");
        }

        string? directory = Path.GetDirectoryName(path);
        if (directory is not null && !Directory.Exists(directory))
        {
            throw new CommandLineException($"--csv: the directory '{directory}' does not exist.");
        }

        return path;
    }
}
