using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using WorkerPool.Extensions.Hosting.Internal;

namespace WorkerPool.Redis.Hosting.Internal;

/// <summary>
/// Reads <see cref="RedisStreamWorkerOptions"/> from a configuration section: <c>RestartDelay</c> and <c>Database</c>,
/// and the sections <c>Stream</c> (read by <see cref="RedisStreamOptionsReader"/>) and <c>Pool</c> (read with the rules
/// of <c>AddWorkerPool</c>'s <c>BindConfiguration</c>). Errors are reported together, as an
/// <see cref="OptionsValidationException"/> naming each key, its path and its value.
/// </summary>
internal static class RedisStreamWorkerConfigurationReader
{
    /// <summary>The keys of the section itself. A test checks that this list stays complete.</summary>
    public static readonly string[] Keys =
    [
        nameof(RedisStreamWorkerOptions.Stream),
        nameof(RedisStreamWorkerOptions.Pool),
        nameof(RedisStreamWorkerOptions.RestartDelay),
        nameof(RedisStreamWorkerOptions.Database),
    ];

    /// <summary>Sets each option present in <paramref name="section"/>; options absent from it, or null there, keep their value.</summary>
    /// <exception cref="OptionsValidationException">A key is not a setting, or a value does not parse.</exception>
    public static void Read(IConfiguration section, RedisStreamWorkerOptions options, string optionsName)
    {
        List<string> errors = [];
        foreach (IConfigurationSection entry in section.GetChildren())
        {
            if (ConfigurationValues.Is(entry.Key, nameof(RedisStreamWorkerOptions.Stream)))
            {
                ReadSection(entry, nameof(RedisStreamOptions), errors, () => RedisStreamOptionsReader.Read(entry, options.Stream, errors));
            }
            else if (ConfigurationValues.Is(entry.Key, nameof(RedisStreamWorkerOptions.Pool)))
            {
                ReadSection(entry, nameof(WorkerPoolOptions), errors, () => WorkerPoolConfigurationReader.Read(entry, options.Pool, errors));
            }
            else if (ConfigurationValues.Is(entry.Key, nameof(RedisStreamWorkerOptions.RestartDelay)))
            {
                Add(errors, ConfigurationValues.ReadTimeSpan(entry, v => options.RestartDelay = v));
            }
            else if (ConfigurationValues.Is(entry.Key, nameof(RedisStreamWorkerOptions.Database)))
            {
                Add(errors, ConfigurationValues.ReadInt(entry, v => options.Database = v));
            }
            else
            {
                errors.Add($"'{entry.Path}' is not a {nameof(RedisStreamWorkerOptions)} setting; the settings are {string.Join(", ", Keys)}.");
            }
        }

        if (errors.Count > 0)
        {
            throw new OptionsValidationException(optionsName, typeof(RedisStreamWorkerOptions), errors);
        }
    }

    private static void ReadSection(IConfigurationSection entry, string settings, List<string> errors, Action read)
    {
        if (entry.Value is not null)
        {
            errors.Add($"'{entry.Path}' must be a section of {settings} settings, but was the value '{entry.Value}'.");
            return;
        }

        read();
    }

    private static void Add(List<string> errors, string? error)
    {
        if (error is not null)
        {
            errors.Add(error);
        }
    }
}
