using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Runs the benchmarks. <c>--quick</c> picks the quick sizes and a short job; every other argument goes to
/// BenchmarkDotNet's switcher (for example <c>--filter *Latency*</c>). Without a filter, every benchmark runs, followed by
/// the scale measurement; <c>--scale-only</c> runs only the latter.
/// <para>
/// The caller-fairness measurements are console measurements, not BenchmarkDotNet benchmarks: <c>--fairness</c> (fair
/// admission under overload), <c>--long-job</c> and <c>--context-cost</c> run only the ones named, each launch in a fresh
/// child process, with <c>--launches N</c>, <c>--concurrency N</c> and <c>--shape QUEUES/CALLERS/FANOUTS</c> to adjust them
/// (see <see cref="FairnessSettings"/>).
/// </para>
/// <para>
/// <c>--compare</c> (with <c>--quick</c> and <c>--launches N</c>) is a console measurement too: the pool beside its peers on
/// every workload, interleaved in the same process, each launch a fresh child process, with the goals' verdicts (see
/// <see cref="CompareMeasurement"/>).
/// </para>
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

        if (args is [string childFlag, .. string[] measurementArgs] && ChildMeasurement(childFlag) is { } runChild)
        {
            return runChild(measurementArgs);
        }

        if (args.Any(FairnessSettings.Flags.Contains))
        {
            return RunFairness(args);
        }

        if (args.Contains(CompareSettings.Flag))
        {
            return RunCompare(args);
        }

        WorkloadSettings settings = args.Contains(QuickFlag) ? WorkloadSettings.Quick : WorkloadSettings.Full;
        WorkloadSettings.Current = settings;
        bool scaleOnly = args.Contains(ScaleOnlyFlag);
        string[] switcherArgs = [.. args.Where(a => a is not (QuickFlag or ScaleOnlyFlag))];
        bool filtered = switcherArgs.Any(a => a is "--filter" or "-f" || a.StartsWith("--filter=", StringComparison.Ordinal));

        var report = new List<string> { MachineLoad.Sentence("before") };
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

        report.Add(MachineLoad.Sentence("after"));
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

    private static Func<string[], int>? ChildMeasurement(string flag) => flag switch
    {
        FairAdmissionMeasurement.ChildFlag => FairAdmissionMeasurement.RunChild,
        LongJobMeasurement.ChildFlag => LongJobMeasurement.RunChild,
        ContextCostMeasurement.ChildFlag => ContextCostMeasurement.RunChild,
        CompareChild.ChildFlag => CompareChild.Run,
        _ => null,
    };

    /// <summary>Runs the caller-fairness measurements named on the command line and saves their report.</summary>
    private static int RunFairness(string[] args)
    {
        FairnessSettings settings = FairnessSettings.Parse(args, args.Contains(QuickFlag));
        string[] unknown = [.. FairnessSettings.Strip(args).Where(a => a != QuickFlag)];
        if (unknown.Length > 0)
        {
            Console.Error.WriteLine($"Not understood with the fairness measurements: {string.Join(' ', unknown)}");
            return 2;
        }

        var report = new List<string> { $"Command line: {string.Join(' ', args)}", MachineLoad.Sentence("before") };
        foreach ((string flag, Func<FairnessSettings, IReadOnlyList<string>> measure) in new (string, Func<FairnessSettings, IReadOnlyList<string>>)[]
        {
            (FairnessSettings.FairnessFlag, FairAdmissionMeasurement.Measure),
            (FairnessSettings.LongJobFlag, LongJobMeasurement.Measure),
            (FairnessSettings.ContextCostFlag, ContextCostMeasurement.Measure),
        })
        {
            if (args.Contains(flag))
            {
                report.Add("");
                report.AddRange(measure(settings));
                report.Add("");
            }
        }

        report.Add(MachineLoad.Sentence("after"));
        SaveAndPrint(report, "Fairness", $"fairness-{settings.Mode}");
        return 0;
    }

    /// <summary>Runs the side-by-side comparison (<c>--compare</c>) and saves its report.</summary>
    private static int RunCompare(string[] args)
    {
        CompareSettings settings;
        try
        {
            settings = CompareSettings.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }

        if (CompareMeasurement.NotOptimized() is { } debugBuild)
        {
            Console.Error.WriteLine($"{debugBuild} was built without optimisation; run the comparison with `dotnet run -c Release`.");
            return 2;
        }

        var report = new List<string> { $"Command line: {string.Join(' ', args)}", MachineLoad.Sentence("before") };
        report.AddRange(CompareMeasurement.Measure(settings));
        report.Add("");
        report.Add(MachineLoad.Sentence("after"));
        SaveAndPrint(report, "Comparison", $"compare-{settings.Mode}");
        return 0;
    }

    /// <summary>Saves a console measurement's report next to BenchmarkDotNet's results, and prints it.</summary>
    private static void SaveAndPrint(List<string> report, string title, string name)
    {
        string resultsDirectory = Path.Combine(Directory.GetCurrentDirectory(), "BenchmarkDotNet.Artifacts", "results");
        Directory.CreateDirectory(resultsDirectory);
        string path = Path.Combine(resultsDirectory, $"WorkerPool.Benchmarks-{name}.md");
        File.WriteAllLines(path, report.Select(line => line.StartsWith('|') || line.Length == 0 ? line : "- " + line));
        Console.WriteLine();
        Console.WriteLine($"// {title}, also saved to {path}:");
        foreach (string line in report)
        {
            Console.WriteLine(line);
        }
    }
}
