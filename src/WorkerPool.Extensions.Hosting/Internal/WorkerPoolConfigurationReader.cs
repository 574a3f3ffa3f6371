using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>
/// Reads <see cref="WorkerPoolOptions"/> from a configuration section. Unlike the general configuration binder it takes
/// <c>"Infinite"</c> for <see cref="WorkerPoolOptions.JobTimeout"/> and <see cref="WorkerPoolOptions.ShutdownTimeout"/>,
/// needs no reflection, and rejects keys that are not settings (a misspelt key would otherwise be ignored). Errors are
/// reported together, as an <see cref="OptionsValidationException"/> naming each key, its path and its value.
/// </summary>
internal static class WorkerPoolConfigurationReader
{
    /// <summary>The value that stands for <see cref="Timeout.InfiniteTimeSpan"/>, compared without regard to case.</summary>
    public const string Infinite = "Infinite";

    /// <summary>
    /// The keys read, one per option that configuration can hold: every public settable property but the delegate
    /// <see cref="WorkerPoolOptions.JobFormatter"/> and the clock <see cref="WorkerPoolOptions.TimeProvider"/>, which are
    /// code and are set in code (the clock may also come from the container). Reading leaves both as they are. A test
    /// checks that this list stays complete.
    /// </summary>
    public static readonly string[] Keys =
    [
        nameof(WorkerPoolOptions.MaxWorkers),
        nameof(WorkerPoolOptions.QueueCapacity),
        nameof(WorkerPoolOptions.WorkerBatchSize),
        nameof(WorkerPoolOptions.JobTimeout),
        nameof(WorkerPoolOptions.ErrorMode),
        nameof(WorkerPoolOptions.PreserveOrder),
        nameof(WorkerPoolOptions.ShutdownTimeout),
        nameof(WorkerPoolOptions.Name),
    ];

    /// <summary>Sets each option present in <paramref name="section"/>; options absent or empty there keep their value.</summary>
    /// <exception cref="OptionsValidationException">A key is not a setting, or a value does not parse.</exception>
    public static void Read(IConfiguration section, WorkerPoolOptions options, string optionsName)
    {
        List<string>? errors = null;
        foreach (IConfigurationSection entry in section.GetChildren())
        {
            string? error = ReadOne(entry, options);
            if (error is not null)
            {
                (errors ??= []).Add(error);
            }
        }

        if (errors is not null)
        {
            throw new OptionsValidationException(optionsName, typeof(WorkerPoolOptions), errors);
        }
    }

    private static string? ReadOne(IConfigurationSection entry, WorkerPoolOptions options)
    {
        string key = entry.Key;
        string? value = entry.Value;
        if (Is(key, nameof(WorkerPoolOptions.MaxWorkers)))
        {
            return ReadInt(entry, value, v => options.MaxWorkers = v);
        }

        if (Is(key, nameof(WorkerPoolOptions.QueueCapacity)))
        {
            return ReadInt(entry, value, v => options.QueueCapacity = v);
        }

        if (Is(key, nameof(WorkerPoolOptions.WorkerBatchSize)))
        {
            return ReadInt(entry, value, v => options.WorkerBatchSize = v);
        }

        if (Is(key, nameof(WorkerPoolOptions.JobTimeout)))
        {
            return ReadTimeSpan(entry, value, v => options.JobTimeout = v);
        }

        if (Is(key, nameof(WorkerPoolOptions.ShutdownTimeout)))
        {
            return ReadTimeSpan(entry, value, v => options.ShutdownTimeout = v);
        }

        if (Is(key, nameof(WorkerPoolOptions.ErrorMode)))
        {
            if (string.IsNullOrEmpty(value))
            {
                return NotAValue(entry);
            }

            // By one name only: a number would say nothing to whoever reads the configuration, and Enum.TryParse would
            // also combine names separated by commas.
            string? named = Array.Find(Enum.GetNames<ErrorMode>(), name => name.Equals(value.Trim(), StringComparison.OrdinalIgnoreCase));
            if (named is not null)
            {
                options.ErrorMode = Enum.Parse<ErrorMode>(named);
                return null;
            }

            return $"'{entry.Path}' must be {nameof(ErrorMode.Collect)} or {nameof(ErrorMode.StopOnFirstError)}, but was '{value}'.";
        }

        if (Is(key, nameof(WorkerPoolOptions.PreserveOrder)))
        {
            if (string.IsNullOrEmpty(value))
            {
                return NotAValue(entry);
            }

            if (bool.TryParse(value, out bool preserveOrder))
            {
                options.PreserveOrder = preserveOrder;
                return null;
            }

            return $"'{entry.Path}' must be true or false, but was '{value}'.";
        }

        if (Is(key, nameof(WorkerPoolOptions.Name)))
        {
            if (string.IsNullOrEmpty(value))
            {
                return NotAValue(entry);
            }

            options.Name = value;
            return null;
        }

        if (Is(key, nameof(WorkerPoolOptions.TimeProvider)))
        {
            return $"'{entry.Path}' cannot be set from configuration: {nameof(WorkerPoolOptions)}.{nameof(WorkerPoolOptions.TimeProvider)} is set in code, or is the container's {nameof(TimeProvider)} service.";
        }

        return $"'{entry.Path}' is not a {nameof(WorkerPoolOptions)} setting; the settings are {string.Join(", ", Keys)}.";
    }

    private static string? ReadInt(IConfigurationSection entry, string? value, Action<int> set)
    {
        if (string.IsNullOrEmpty(value))
        {
            return NotAValue(entry);
        }

        if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int parsed))
        {
            set(parsed);
            return null;
        }

        return $"'{entry.Path}' must be a whole number, but was '{value}'.";
    }

    private static string? ReadTimeSpan(IConfigurationSection entry, string? value, Action<TimeSpan> set)
    {
        if (string.IsNullOrEmpty(value))
        {
            return NotAValue(entry);
        }

        if (string.Equals(value.Trim(), Infinite, StringComparison.OrdinalIgnoreCase))
        {
            set(Timeout.InfiniteTimeSpan);
            return null;
        }

        if (!value.Contains(':', StringComparison.Ordinal) && !IsZero(value))
        {
            // TimeSpan reads "5" as five days and "1.5" as a day and five hours, where whoever wrote them most likely
            // meant seconds. Zero means the same in any unit.
            return $"'{entry.Path}' must be a time span such as 00:00:30, or {Infinite}, but was '{value}': a number without a colon would be read as days.";
        }

        if (TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out TimeSpan parsed))
        {
            set(parsed);
            return null;
        }

        return $"'{entry.Path}' must be a time span such as 00:00:30, or {Infinite}, but was '{value}'.";
    }

    /// <summary>Whether <paramref name="value"/> is the integer zero.</summary>
    private static bool IsZero(string value) => TryParseInteger(value, out long number) && number == 0;

    private static bool TryParseInteger(string value, out long number) =>
        long.TryParse(value, NumberStyles.AllowLeadingSign | NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out number);

    /// <summary>
    /// What to say about a key with no value: nothing for a null (JSON <c>null</c>: not set), an error for a section with
    /// children, and an error for an empty value (an environment variable set to nothing), as the general binder does:
    /// silently keeping the default would hide the mistake.
    /// </summary>
    private static string? NotAValue(IConfigurationSection entry)
    {
        if (entry.Value is not null)
        {
            return $"'{entry.Path}' is empty.";
        }

        return entry.GetChildren().Any() ? $"'{entry.Path}' must be a single value, not a section." : null;
    }

    private static bool Is(string key, string setting) => string.Equals(key, setting, StringComparison.OrdinalIgnoreCase);
}
