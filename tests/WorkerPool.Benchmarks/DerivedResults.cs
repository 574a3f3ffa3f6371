using System.Globalization;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Reports;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Figures computed from BenchmarkDotNet's own numbers, so that nobody has to do the arithmetic by hand: time and bytes
/// per job, latency-bound elapsed/ideal, and the many-owners throughput ratios.
/// </summary>
internal static class DerivedResults
{
    public static IEnumerable<string> From(IEnumerable<Summary> summaries, WorkloadSettings settings)
    {
        foreach (Summary summary in summaries)
        {
            Type? type = summary.BenchmarksCases.FirstOrDefault()?.Descriptor.Type;
            IEnumerable<string> lines =
                type == typeof(OverheadBenchmarks) ? Overhead(summary)
                : type == typeof(LatencyBenchmarks) ? Latency(summary, settings)
                : type == typeof(ManyOwnersBenchmarks) ? ManyOwners(summary)
                : [];
            foreach (string line in lines)
            {
                yield return line;
            }
        }
    }

    private static IEnumerable<string> Overhead(Summary summary)
    {
        int resultSize = Unsafe.SizeOf<JobResult<int, int>>();
        long waiterSize = SemaphoreWaiter.MeasureBytes();
        yield return Format($"Overhead: one JobResult<int, int> is {resultSize} B, so RunAsync's result list alone is {resultSize} B/job.");
        yield return Format($"Overhead: one asynchronous SemaphoreSlim wait allocates {waiterSize} B. Parallel.ForEachAsync's body allocates nothing here,") +
            Format($" so its B/job divided by {waiterSize} is how many of its elements waited for the enumerator's lock asynchronously.");
        foreach (BenchmarkReport report in summary.Reports)
        {
            int jobs = PerJobColumn.JobsOf(report.BenchmarkCase) ?? 1;
            double? allocated = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase);
            string detail = report.BenchmarkCase.Descriptor.WorkloadMethod.Name switch
            {
                nameof(OverheadBenchmarks.PoolRun) => Format($" ({allocated / jobs - resultSize:N2} B/job beyond one JobResult)"),
                nameof(OverheadBenchmarks.ParallelForEach) or nameof(OverheadBenchmarks.ParallelForEachAwaiting) =>
                    Format($", {allocated / jobs / waiterSize:N2} asynchronous lock waits per job"),
                _ => "",
            };
            yield return Format($"Overhead, {Name(report)}: {Mean(report) / jobs:N1} ns/job, {allocated / jobs:N2} B/job{detail}.");
        }
    }

    private static IEnumerable<string> Latency(Summary summary, WorkloadSettings settings)
    {
        BenchmarkReport? single = Find(summary, nameof(LatencyBenchmarks.SingleDelay));
        if (single is null)
        {
            yield break;
        }

        double delay = Mean(single);
        foreach (BenchmarkReport report in summary.Reports.Where(r => r != single))
        {
            int jobs = PerJobColumn.JobsOf(report.BenchmarkCase) ?? 0;
            double ideal = (double)jobs / settings.LatencyWorkers * delay;
            yield return Format($"Latency-bound, {Name(report)}: {Mean(report) / 1e6:N2} ms") +
                Format($"; ideal {jobs} / {settings.LatencyWorkers} x {delay / 1e6:N3} ms = {ideal / 1e6:N2} ms; elapsed/ideal {Mean(report) / ideal:N3}.");
        }
    }

    private static IEnumerable<string> ManyOwners(Summary summary)
    {
        (string Single, string Many)[] pairs =
        [
            (nameof(ManyOwnersBenchmarks.ParallelSingle), nameof(ManyOwnersBenchmarks.ParallelMany)),
            (nameof(ManyOwnersBenchmarks.PoolSingle), nameof(ManyOwnersBenchmarks.PoolMany)),
            (nameof(ManyOwnersBenchmarks.DataflowSingle), nameof(ManyOwnersBenchmarks.DataflowMany)),
            (nameof(ManyOwnersBenchmarks.ChannelSingle), nameof(ManyOwnersBenchmarks.ChannelMany)),
        ];
        foreach ((string singleName, string manyName) in pairs)
        {
            if (Find(summary, singleName) is { } single && Find(summary, manyName) is { } many)
            {
                yield return Format($"Many owners, {Name(many)}: throughput {Mean(single) / Mean(many):N2}x that of '{Name(single)}'") +
                    Format($" ({Mean(many) / 1e6:N2} ms vs {Mean(single) / 1e6:N2} ms).");
            }
        }
    }

    private static BenchmarkReport? Find(Summary summary, string method) =>
        summary.Reports.FirstOrDefault(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method);

    private static double Mean(BenchmarkReport report) => report.ResultStatistics?.Mean ?? double.NaN;

    private static string Name(BenchmarkReport report) => report.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo;

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
