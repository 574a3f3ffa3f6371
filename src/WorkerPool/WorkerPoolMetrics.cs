using System.Diagnostics.Metrics;

namespace WorkerPool;

/// <summary>
/// The library's one <see cref="Meter"/>, named <c>WorkerPool</c>, and its instruments. Every measurement carries the
/// tag <c>workerpool.name</c> with the pool's <see cref="WorkerPoolOptions.Name"/>. With no listener attached, each
/// recording costs one check of <see cref="Instrument.Enabled"/>.
/// </summary>
internal static class WorkerPoolMetrics
{
    /// <summary>The meter's name, for <c>AddMeter</c> in OpenTelemetry and <c>--counters</c> in dotnet-counters.</summary>
    public const string MeterName = "WorkerPool";

    public const string PoolNameTag = "workerpool.name";

    public const string StatusTag = "status";

    private static readonly Meter Meter = new(MeterName, typeof(WorkerPoolMetrics).Assembly.GetName().Version?.ToString());

    /// <summary>Tag values for <see cref="StatusTag"/>, indexed by <see cref="JobStatus"/>.</summary>
    private static readonly string[] StatusNames = ["succeeded", "failed", "timed_out", "canceled"];

    internal static readonly Counter<long> JobsCompleted = Meter.CreateCounter<long>(
        "workerpool.jobs.completed", unit: "{job}", description: "Jobs that ended, by status: succeeded, failed, timed_out or canceled (started or not).");

    internal static readonly Histogram<double> JobDuration = Meter.CreateHistogram<double>(
        "workerpool.job.duration", unit: "s", description: "How long each job's work call ran.");

    internal static readonly UpDownCounter<int> WorkersActive = Meter.CreateUpDownCounter<int>(
        "workerpool.workers.active", unit: "{worker}", description: "Worker tasks that exist now.");

    static WorkerPoolMetrics()
    {
        Meter.CreateObservableGauge(
            "workerpool.queue.length", () => Observe(static source => source.QueuedJobs), unit: "{job}", description: "Jobs waiting in the pool's queue for a worker.");
        Meter.CreateObservableGauge(
            "workerpool.jobs.running", () => Observe(static source => source.RunningJobs), unit: "{job}", description: "Work calls executing now.");
    }

    internal static string StatusName(JobStatus status) => StatusNames[(int)status];

    /// <summary>One measurement per live pool; a disposed pool is reported only while it still has work in flight.</summary>
    private static List<Measurement<int>> Observe(Func<PoolRegistry.IPoolDiagnostics, int> read)
    {
        var measurements = new List<Measurement<int>>();
        foreach (PoolRegistry.IPoolDiagnostics pool in PoolRegistry.Snapshot())
        {
            if (!pool.IsDisposed || pool.RunningJobs > 0 || pool.QueuedJobs > 0)
            {
                measurements.Add(new Measurement<int>(read(pool), new KeyValuePair<string, object?>(PoolNameTag, pool.Name)));
            }
        }

        return measurements;
    }
}
