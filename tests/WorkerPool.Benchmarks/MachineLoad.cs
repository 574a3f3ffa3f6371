using System.Globalization;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Other processes on the machine skew every figure, and more so on few cores: the load average is recorded next to
/// the results (Linux only).
/// </summary>
internal static class MachineLoad
{
    private const string LoadAverageFile = "/proc/loadavg";

    /// <summary>For example "Load average before the run (1, 5, 15 min): 0.50, 0.40, 0.30."</summary>
    public static string Sentence(string when) => File.Exists(LoadAverageFile)
        ? $"Load average {when} the run (1, 5, 15 min): {Describe()}."
        : $"Load average {when} the run: not available on this OS.";

    /// <summary>The 1, 5 and 15 minute load averages, for example "0.50, 0.40, 0.30".</summary>
    public static string Describe() => File.Exists(LoadAverageFile)
        ? string.Join(", ", File.ReadAllText(LoadAverageFile).Split(' ').Take(3))
        : "load average not available";

    /// <summary>The one-minute load average, or NaN where it is not available.</summary>
    public static double OneMinute() => File.Exists(LoadAverageFile)
        ? double.Parse(File.ReadAllText(LoadAverageFile).Split(' ')[0], CultureInfo.InvariantCulture)
        : double.NaN;
}
