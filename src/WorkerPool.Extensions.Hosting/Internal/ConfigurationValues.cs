using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>
/// Parses the values of one configuration entry, for the options readers of this package and of the packages built on
/// it. Each method sets the value it read and returns <see langword="null"/>, or returns an error that names the
/// entry's path and its value. An entry whose value is <see langword="null"/> (JSON <c>null</c>) is not set, and is no
/// error.
/// </summary>
internal static class ConfigurationValues
{
    /// <summary>The value that stands for <see cref="Timeout.InfiniteTimeSpan"/>, compared without regard to case.</summary>
    public const string Infinite = "Infinite";

    /// <summary>Whether a configuration key names <paramref name="setting"/>: keys are compared without regard to case.</summary>
    public static bool Is(string key, string setting) => string.Equals(key, setting, StringComparison.OrdinalIgnoreCase);

    public static string? ReadInt(IConfigurationSection entry, Action<int> set)
    {
        string? value = entry.Value;
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

    /// <summary>
    /// Reads a <see cref="TimeSpan"/> in the invariant format, or <see cref="Infinite"/>. A number without a colon other
    /// than zero is an error: <see cref="TimeSpan"/> would read it as days.
    /// </summary>
    public static string? ReadTimeSpan(IConfigurationSection entry, Action<TimeSpan> set)
    {
        string? value = entry.Value;
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

    public static string? ReadBool(IConfigurationSection entry, Action<bool> set)
    {
        string? value = entry.Value;
        if (string.IsNullOrEmpty(value))
        {
            return NotAValue(entry);
        }

        if (bool.TryParse(value, out bool parsed))
        {
            set(parsed);
            return null;
        }

        return $"'{entry.Path}' must be true or false, but was '{value}'.";
    }

    /// <summary>Reads a non-empty string, as it is written.</summary>
    public static string? ReadText(IConfigurationSection entry, Action<string> set)
    {
        string? value = entry.Value;
        if (string.IsNullOrEmpty(value))
        {
            return NotAValue(entry);
        }

        set(value);
        return null;
    }

    /// <summary>
    /// What to say about a key with no value: nothing for a null (JSON <c>null</c>: not set), an error for a section with
    /// children, and an error for an empty value (an environment variable set to nothing), as the general binder does:
    /// silently keeping the default would hide the mistake.
    /// </summary>
    public static string? NotAValue(IConfigurationSection entry)
    {
        if (entry.Value is not null)
        {
            return $"'{entry.Path}' is empty.";
        }

        return entry.GetChildren().Any() ? $"'{entry.Path}' must be a single value, not a section." : null;
    }

    /// <summary>Whether <paramref name="value"/> is the integer zero.</summary>
    private static bool IsZero(string value) =>
        long.TryParse(value, NumberStyles.AllowLeadingSign | NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out long number)
        && number == 0;
}
