using Microsoft.Extensions.Configuration;
using WorkerPool.Extensions.Hosting.Internal;

namespace WorkerPool.Redis.Hosting.Internal;

/// <summary>
/// Reads <see cref="RedisStreamOptions"/> from a configuration section with the rules of WorkerPool.Extensions.Hosting:
/// <c>"Infinite"</c> for <see cref="RedisStreamOptions.ConnectionRetryTimeout"/>, no reflection, and an error for each key
/// that is not a setting and each value that does not parse.
/// </summary>
internal static class RedisStreamOptionsReader
{
    /// <summary>
    /// One reader per key: every public settable property but <see cref="RedisStreamOptions.TimeProvider"/>, an object
    /// set in code (or the container's). A test checks that this list stays complete.
    /// </summary>
    private static readonly (string Key, Func<IConfigurationSection, RedisStreamOptions, string?> Read)[] Settings =
    [
        (nameof(RedisStreamOptions.StreamKey), (entry, options) => ConfigurationValues.ReadText(entry, v => options.StreamKey = v)),
        (nameof(RedisStreamOptions.GroupName), (entry, options) => ConfigurationValues.ReadText(entry, v => options.GroupName = v)),
        (nameof(RedisStreamOptions.ConsumerName), (entry, options) => ConfigurationValues.ReadText(entry, v => options.ConsumerName = v)),
        (nameof(RedisStreamOptions.DeadLetterStreamKey), (entry, options) => ConfigurationValues.ReadText(entry, v => options.DeadLetterStreamKey = v)),
        (nameof(RedisStreamOptions.PayloadField), (entry, options) => ConfigurationValues.ReadText(entry, v => options.PayloadField = v)),
        (nameof(RedisStreamOptions.MaxDeliveries), (entry, options) => ConfigurationValues.ReadInt(entry, v => options.MaxDeliveries = v)),
        (nameof(RedisStreamOptions.RetryDelay), (entry, options) => ConfigurationValues.ReadTimeSpan(entry, v => options.RetryDelay = v)),
        (nameof(RedisStreamOptions.ClaimMinIdleTime), (entry, options) => ConfigurationValues.ReadTimeSpan(entry, v => options.ClaimMinIdleTime = v)),
        (nameof(RedisStreamOptions.ClaimInterval), (entry, options) => ConfigurationValues.ReadTimeSpan(entry, v => options.ClaimInterval = v)),
        (nameof(RedisStreamOptions.PollMinDelay), (entry, options) => ConfigurationValues.ReadTimeSpan(entry, v => options.PollMinDelay = v)),
        (nameof(RedisStreamOptions.PollMaxDelay), (entry, options) => ConfigurationValues.ReadTimeSpan(entry, v => options.PollMaxDelay = v)),
        (nameof(RedisStreamOptions.ConnectionRetryTimeout), (entry, options) => ConfigurationValues.ReadTimeSpan(entry, v => options.ConnectionRetryTimeout = v)),
        (nameof(RedisStreamOptions.CreateGroup), (entry, options) => ConfigurationValues.ReadBool(entry, v => options.CreateGroup = v)),
    ];

    /// <summary>The keys read.</summary>
    public static IEnumerable<string> Keys => Settings.Select(setting => setting.Key);

    /// <summary>Sets each option present in <paramref name="section"/>, and adds an error to <paramref name="errors"/> for each key or value it cannot take.</summary>
    public static void Read(IConfiguration section, RedisStreamOptions options, List<string> errors)
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

    private static string? ReadOne(IConfigurationSection entry, RedisStreamOptions options)
    {
        foreach ((string key, Func<IConfigurationSection, RedisStreamOptions, string?> read) in Settings)
        {
            if (ConfigurationValues.Is(entry.Key, key))
            {
                return read(entry, options);
            }
        }

        if (ConfigurationValues.Is(entry.Key, nameof(RedisStreamOptions.TimeProvider)))
        {
            return $"'{entry.Path}' cannot be set from configuration: {nameof(RedisStreamOptions)}.{nameof(RedisStreamOptions.TimeProvider)} is set in code, or is the container's {nameof(TimeProvider)} service.";
        }

        return $"'{entry.Path}' is not a {nameof(RedisStreamOptions)} setting; the settings are {string.Join(", ", Keys)}.";
    }
}
