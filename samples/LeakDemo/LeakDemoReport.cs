using System.Globalization;
using System.Text;
using WorkerPool;
using static System.FormattableString;

namespace LeakDemo;

/// <summary>Formats a <see cref="LeakDemoResult"/> as the incident's before/after table, with a sparkline per endpoint.</summary>
public static class LeakDemoReport
{
    private const int SparklineWidth = 60;

    /// <summary>Formats the table and the sparklines.</summary>
    /// <param name="result">The measurements.</param>
    /// <returns>Lines of text, ending with a newline.</returns>
    public static string Format(LeakDemoResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        LeakDemoOptions options = result.Options;
        EndpointReport before = result.Leaky;
        EndpointReport after = result.Pooled;
        var text = new StringBuilder();
        CultureInfo culture = CultureInfo.InvariantCulture;

        text.AppendLine();
        text.AppendLine(culture, $"Incident replay: {options.Requests:N0} requests per endpoint, {options.Concurrency} at a time, client timeout {Ms(options.ClientTimeout)};");
        text.AppendLine(culture, $"each request fans out to {options.SubJobsPerRequest} sub-jobs of {Ms(options.MinSubJobTime)}-{Ms(options.MaxSubJobTime)}, one of which fails.");
        text.AppendLine();

        string[] header = ["", "before: /leaky", $"after: /pooled (MaxWorkers {options.MaxWorkers})"];
        string[][] rows =
        [
            ["peak live sub-job tasks", Invariant($"{before.PeakLiveSubJobs:N0} ({Bound(before, options)})"), Invariant($"{after.PeakLiveSubJobs:N0} ({Bound(after, options)})")],
            ["peak memory: heap / working set", Memory(before), Memory(after)],
            ["heap after load (full GC) vs start", Retained(before), Retained(after)],
            ["recovery after load stops", Recovery(before), Recovery(after)],
            ["requests served", Served(before.Load), Served(after.Load)],
            ["responses 200 / 502 (served)", Statuses(before.Load), Statuses(after.Load)],
            ["latency p50 / p99 (served)", $"{Ms(before.Load.LatencyP50)} / {Ms(before.Load.LatencyP99)}", $"{Ms(after.Load.LatencyP50)} / {Ms(after.Load.LatencyP99)}"],
        ];
        AppendTable(text, header, rows);

        text.AppendLine();
        text.AppendLine("Live sub-job tasks over time (each chart scaled to its own maximum; ^ marks the end of the load):");
        AppendSparkline(text, before);
        AppendSparkline(text, after);

        text.AppendLine();
        text.AppendLine(culture, $"Recovery = time from the last client request until no request is in flight, no sub-job task is alive and the heap");
        text.AppendLine(culture, $"is back within max(2 MiB, 10%) of its pre-load size after a full GC; watched for {result.Options.GracePeriod.TotalSeconds:0.#} s.");
        if (before.LiveSubJobsAtEnd > 0 && !before.HeapStable)
        {
            long held = before.RetainedHeapBytes - before.BaselineHeapBytes;
            text.AppendLine(culture, $"/leaky held {Mb(held)} of heap for {before.LiveSubJobsAtEnd:N0} blocked tasks: about {held / before.LiveSubJobsAtEnd:N0} bytes each.");
        }

        text.AppendLine(culture, $"/leaky's blocked tasks were then released by closing their channels (the manual restart): {result.Release.Blocked:N0} tasks ended in {Ms(result.Release.Elapsed)}, {result.Release.LiveAfter} left.");
        WorkerPoolStatistics pool = result.PoolStatistics;
        text.AppendLine(culture, $"Served = answered before the client's {Ms(options.ClientTimeout)} timeout, whatever the status. Every request fans out to one failing");
        text.AppendLine(culture, $"sub-job, so every answer is a 502, sent once that failure is known (and, for /pooled, once the request's other sub-jobs stopped).");
        text.AppendLine(culture, $"Pool 'fan-out', measured load only (warm-up left out): peak {pool.PeakWorkers} workers; sub-jobs {pool.Succeeded:N0} succeeded, {pool.Failed:N0} failed,");
        text.AppendLine(culture, $"{pool.Canceled:N0} cancelled; {result.PooledRequestsAborted:N0} runs stopped because the client went away; now {pool.ActiveWorkers} workers, {pool.RunningJobs} jobs running.");
        text.AppendLine(culture, $"A client abort stops a run only while the run is still going. The other {Math.Max(0, after.Load.Aborted - result.PooledRequestsAborted):N0} /pooled requests aborted by their client had");
        text.AppendLine(culture, $"no run left to stop: it had already ended on its failing sub-job when the server saw the connection close.");
        text.AppendLine(culture, $"Kestrel on {result.ServerAddress}, stopped. Total time {result.Elapsed.TotalSeconds:0.0} s.");
        return text.ToString();
    }

    private static string Bound(EndpointReport report, LeakDemoOptions options) =>
        report.Endpoint == "/pooled" ? $"bounded by MaxWorkers {options.MaxWorkers}" : "unbounded";

    private static string Memory(EndpointReport report) =>
        $"{Mb(report.PeakHeapBytes)} / {Mb(report.PeakWorkingSetBytes)}";

    private static string Retained(EndpointReport report)
    {
        long delta = report.RetainedHeapBytes - report.BaselineHeapBytes;
        string sign = delta >= 0 ? "+" : "-";
        return string.Create(CultureInfo.InvariantCulture, $"{sign}{Mb(Math.Abs(delta))} ({(report.HeapStable ? "stable" : "held")})");
    }

    private static string Recovery(EndpointReport report) => report.Recovery is { } recovery
        ? Ms(recovery)
        : string.Create(CultureInfo.InvariantCulture, $"never ({report.LiveSubJobsAtEnd:N0} tasks still blocked)");

    private static string Served(LoadReport load)
    {
        string text = string.Create(CultureInfo.InvariantCulture, $"{load.Served:N0} / {load.Sent:N0} ({load.Aborted:N0} aborted by client");
        return load.TransportErrors > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{text}, {load.TransportErrors:N0} errors)")
            : text + ")";
    }

    private static string Statuses(LoadReport load) =>
        string.Create(CultureInfo.InvariantCulture, $"{load.Succeeded:N0} / {load.Served - load.Succeeded:N0}");

    private static void AppendTable(StringBuilder text, string[] header, string[][] rows)
    {
        int[] widths = new int[header.Length];
        foreach (string[] row in rows.Prepend(header))
        {
            for (int c = 0; c < row.Length; c++)
            {
                widths[c] = Math.Max(widths[c], row[c].Length);
            }
        }

        AppendRow(text, header, widths);
        text.AppendLine(string.Join("-+-", widths.Select(w => new string('-', w))));
        foreach (string[] row in rows)
        {
            AppendRow(text, row, widths);
        }
    }

    private static void AppendRow(StringBuilder text, string[] cells, int[] widths) =>
        text.AppendLine(string.Join(" | ", cells.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());

    private static void AppendSparkline(StringBuilder text, EndpointReport report)
    {
        IReadOnlyList<ProcessSample> samples = report.Samples;
        TimeSpan duration = samples[^1].Time;
        if (duration <= TimeSpan.Zero)
        {
            duration = TimeSpan.FromMilliseconds(1);
        }

        string chart = Sparkline.Render(
            samples.Select(s => s.Time).ToList(),
            samples.Select(s => (double)s.LiveSubJobs).ToList(),
            duration,
            SparklineWidth);
        int max = samples.Max(s => s.LiveSubJobs);
        string label = report.Endpoint.PadRight(8);
        text.AppendLine(CultureInfo.InvariantCulture, $"  {label} {chart}  max {max:N0}, {samples.Count} samples over {duration.TotalSeconds:0.0} s");
        int marker = Math.Clamp((int)(report.LoadEnd / duration * SparklineWidth), 0, SparklineWidth - 1);
        text.AppendLine(CultureInfo.InvariantCulture, $"  {new string(' ', 8)} {new string(' ', marker)}^ load stopped at {report.LoadEnd.TotalSeconds:0.0} s");
    }

    private static string Ms(TimeSpan time) => string.Create(CultureInfo.InvariantCulture, $"{time.TotalMilliseconds:0} ms");

    private static string Mb(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024.0):0.0} MB");
}
