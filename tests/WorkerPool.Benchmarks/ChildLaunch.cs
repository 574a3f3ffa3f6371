using System.Diagnostics;
using System.Globalization;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Starts this program again as a child process with the given arguments and collects the lines it prints that begin
/// with a given prefix. The console measurements use it so that each launch starts with a fresh runtime: a fresh thread
/// pool, a fresh JIT and a fresh heap.
/// </summary>
internal static class ChildLaunch
{
    /// <summary>Runs the child to its end and returns its result lines, with the prefix removed and split at tabs.</summary>
    public static IReadOnlyList<string[]> Run(IEnumerable<string> arguments, string resultPrefix, TimeSpan timeout)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("The path of this program is unknown.");
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            // Started as `dotnet WorkerPool.Benchmarks.dll` rather than through the app host.
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "WorkerPool.Benchmarks.dll"));
        }

        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        string description = string.Join(' ', start.ArgumentList);
        using Process child = Process.Start(start) ?? throw new InvalidOperationException($"Could not start `{description}`.");
        Task<string> output = child.StandardOutput.ReadToEndAsync();
        if (!child.WaitForExit(timeout))
        {
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
            throw new TimeoutException($"`{description}` did not finish within {timeout.TotalMinutes:N0} minutes.");
        }

        string[] results = [.. output.GetAwaiter().GetResult()
            .Split('\n')
            .Where(line => line.StartsWith(resultPrefix, StringComparison.Ordinal))
            .Select(line => line[resultPrefix.Length..].TrimEnd())];
        if (child.ExitCode != 0 || results.Length == 0)
        {
            throw new InvalidOperationException($"`{description}` failed (exit code {child.ExitCode}).");
        }

        return [.. results.Select(line => line.Split('\t'))];
    }

    public static string Format(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    public static double Parse(string value) => double.Parse(value, CultureInfo.InvariantCulture);
}
