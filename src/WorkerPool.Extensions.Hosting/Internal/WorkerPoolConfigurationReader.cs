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
    public const string Infinite = ConfigurationValues.Infinite;

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
        List<string> errors = [];
        Read(section, options, errors);
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(optionsName, typeof(WorkerPoolOptions), errors);
        }
    }

    /// <summary>
    /// Sets each option present in <paramref name="section"/>, and adds an error to <paramref name="errors"/> for each key
    /// that is not a setting and each value that does not parse: for options that hold a <see cref="WorkerPoolOptions"/>.
    /// </summary>
    public static void Read(IConfiguration section, WorkerPoolOptions options, List<string> errors)
    {
        foreach (IConfigurationSection entry in section.GetChildren())
        {
            string? error = ReadOne(entry, options);
            if (error is not null)
            {
                errors.Add(error);
            }
        }
    }

    private static string? ReadOne(IConfigurationSection entry, WorkerPoolOptions options)
    {
        string key = entry.Key;
        string? value = entry.Value;
        if (ConfigurationValues.Is(key, nameof(WorkerPoolOptions.MaxWorkers)))
        {
            return ConfigurationValues.ReadInt(entry, v => options.MaxWorkers = v);
        }

        if (ConfigurationValues.Is(key, nameof(WorkerPoolOptions.QueueCapacity)))
        {
            return ConfigurationValues.ReadInt(entry, v => options.QueueCapacity = v);
        }

        if (ConfigurationValues.Is(key, nameof(WorkerPoolOptions.WorkerBatchSize)))
        {
            return ConfigurationValues.ReadInt(entry, v => options.WorkerBatchSize = v);
        }

        if (ConfigurationValues.Is(key, nameof(WorkerPoolOptions.JobTimeout)))
        {
            return ConfigurationValues.ReadTimeSpan(entry, v => options.JobTimeout = v);
        }

        if (ConfigurationValues.Is(key, nameof(WorkerPoolOptions.ShutdownTimeout)))
        {
            return ConfigurationValues.ReadTimeSpan(entry, v => options.ShutdownTimeout = v);
        }

        if (ConfigurationValues.Is(key, nameof(WorkerPoolOptions.ErrorMode)))
        {
            if (string.IsNullOrEmpty(value))
            {
                return ConfigurationValues.NotAValue(entry);
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

        if (ConfigurationValues.Is(key, nameof(WorkerPoolOptions.PreserveOrder)))
        {
            return ConfigurationValues.ReadBool(entry, v => options.PreserveOrder = v);
        }

        if (ConfigurationValues.Is(key, nameof(WorkerPoolOptions.Name)))
        {
            return ConfigurationValues.ReadText(entry, v => options.Name = v);
        }

        if (ConfigurationValues.Is(key, nameof(WorkerPoolOptions.TimeProvider)))
        {
            return $"'{entry.Path}' cannot be set from configuration: {nameof(WorkerPoolOptions)}.{nameof(WorkerPoolOptions.TimeProvider)} is set in code, or is the container's {nameof(TimeProvider)} service.";
        }

        return $"'{entry.Path}' is not a {nameof(WorkerPoolOptions)} setting; the settings are {string.Join(", ", Keys)}.";
    }
}
