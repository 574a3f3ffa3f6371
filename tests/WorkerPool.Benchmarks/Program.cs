using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Runs the benchmarks. <c>--quick</c> picks the quick sizes and a short job; every other argument goes to
/// BenchmarkDotNet's switcher (for example <c>--filter *Latency*</c>). Without a filter, every benchmark runs, followed by
/// the scale measurement; <c>--scale-only</c> runs only the latter.
/// </summary>
internal static class Program
{
    private const string QuickFlag = "--quick";
    private const string ScaleOnlyFlag = "--scale-only";

    // Deliberately synchronous: the in-process benchmarks then run on the main thread, and never hold a thread-pool
    // thread that the code being measured needs.
    private static int Main(string[] args)
    {
        if (args is [ScaleMeasurement.ChildFlag, .. string[] childArgs])
        {
            return ScaleMeasurement.RunChild(childArgs);
        }

        WorkloadSettings settings = args.Contains(QuickFlag) ? WorkloadSettings.Quick : WorkloadSettings.Full;
        WorkloadSettings.Current = settings;
        bool scaleOnly = args.Contains(ScaleOnlyFlag);
        string[] switcherArgs = [.. args.Where(a => a is not (QuickFlag or ScaleOnlyFlag))];
        bool filtered = switcherArgs.Any(a => a is "--filter" or "-f" || a.StartsWith("--filter=", StringComparison.Ordinal));

        var report = new List<string> { MachineLoad("before") };
        string resultsDirectory = Path.Combine(Directory.GetCurrentDirectory(), "BenchmarkDotNet.Artifacts", "results");
        bool ranBenchmarks = false;
        if (!scaleOnly)
        {
            Summary[] summaries = [.. BenchmarkSwitcher
                .FromAssembly(typeof(Program).Assembly)
                .Run(filtered ? switcherArgs : [.. switcherArgs, "--filter", "*"], BenchmarkConfig.Create(settings))];
            ranBenchmarks = summaries.Length > 0;
            resultsDirectory = summaries.FirstOrDefault()?.ResultsDirectoryPath ?? resultsDirectory;
            report.AddRange(DerivedResults.From(summaries, settings));
            report.AddRange(Findings.Snapshot());
        }

        if (scaleOnly || (ranBenchmarks && !filtered))
        {
            report.Add("");
            report.AddRange(ScaleMeasurement.Run(settings));
        }

        report.Add(MachineLoad("after"));
        if (ranBenchmarks || scaleOnly)
        {
            Directory.CreateDirectory(resultsDirectory);
            string path = Path.Combine(resultsDirectory, $"WorkerPool.Benchmarks-findings-{settings.Mode}.md");
            File.WriteAllLines(path, report.Select(line => line.StartsWith('|') || line.Length == 0 ? line : "- " + line));
            Console.WriteLine();
            Console.WriteLine($"// Findings ({settings.Mode} mode), also saved to {path}:");
            foreach (string line in report)
            {
                Console.WriteLine(line);
            }
        }

        return 0;
    }

    /// <summary>
    /// Other processes on the machine skew every figure, and more so on few cores: record the load average next to the
    /// results (Linux only).
    /// </summary>
    private static string MachineLoad(string when) => File.Exists("/proc/loadavg")
        ? $"Load average {when} the run (1, 5, 15 min): {string.Join(", ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3))}."
        : $"Load average {when} the run: not available on this OS.";
}
