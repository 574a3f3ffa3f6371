using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace WorkerPool.Benchmarks;

/// <summary>
/// A summary column that divides a per-operation figure by the operation's job count, the benchmark parameter named
/// <c>Jobs</c>: mean time per job, or allocated bytes per job.
/// </summary>
internal sealed class PerJobColumn : IColumn
{
    public const string JobsParameter = "Jobs";

    private readonly Func<BenchmarkReport, BenchmarkCase, double?> _perOperation;
    private readonly string _format;

    private PerJobColumn(string name, string legend, string format, Func<BenchmarkReport, BenchmarkCase, double?> perOperation)
    {
        ColumnName = name;
        Legend = legend;
        _format = format;
        _perOperation = perOperation;
    }

    /// <summary>Mean time per job, in nanoseconds.</summary>
    public static PerJobColumn Time { get; } = new(
        "ns/job",
        "Mean time of one operation divided by its job count, in nanoseconds",
        "N1",
        static (report, _) => report.ResultStatistics?.Mean);

    /// <summary>Allocated bytes per job.</summary>
    public static PerJobColumn Allocation { get; } = new(
        "B/job",
        "Bytes allocated by one operation divided by its job count",
        "N2",
        static (report, benchmarkCase) => report.GcStats.GetBytesAllocatedPerOperation(benchmarkCase));

    public string Id => nameof(PerJobColumn) + "." + ColumnName;

    public string ColumnName { get; }

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend { get; }

    /// <summary>The job count of a benchmark case, or null when it has no <c>Jobs</c> parameter.</summary>
    public static int? JobsOf(BenchmarkCase benchmarkCase) =>
        benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == JobsParameter)?.Value as int?;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        BenchmarkReport? report = summary[benchmarkCase];
        int? jobs = JobsOf(benchmarkCase);
        double? perOperation = report is null ? null : _perOperation(report, benchmarkCase);
        return jobs is > 0 && perOperation is { } value
            ? (value / jobs.Value).ToString(_format, style.CultureInfo)
            : "-";
    }

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public override string ToString() => ColumnName;
}
