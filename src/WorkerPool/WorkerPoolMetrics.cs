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

    // The recording methods below never throw: a listener's callback runs inside Add and Record, and a listener that
    // throws must not end a worker's loop or a run's finish. What it breaks is its own measurement.
#pragma warning disable CA1031 // See above: a faulty listener must not harm the pool.

    /// <summary>Counts <paramref name="count"/> jobs that ended with <paramref name="status"/>.</summary>
    internal static void RecordCompleted(long count, KeyValuePair<string, object?> poolTag, JobStatus status)
    {
        if (!JobsCompleted.Enabled)
        {
            return;
        }

        try
        {
            JobsCompleted.Add(count, poolTag, new(StatusTag, StatusName(status)));
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Records an executed job's duration.</summary>
    internal static void RecordDuration(TimeSpan duration, KeyValuePair<string, object?> poolTag, JobStatus status)
    {
        if (!JobDuration.Enabled)
        {
            return;
        }

        try
        {
            JobDuration.Record(duration.TotalSeconds, poolTag, new(StatusTag, StatusName(status)));
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Counts worker tasks started (+1) or ended (-1).</summary>
    internal static void RecordWorkers(int delta, KeyValuePair<string, object?> poolTag)
    {
        if (!WorkersActive.Enabled)
        {
            return;
        }

        try
        {
            WorkersActive.Add(delta, poolTag);
        }
        catch (Exception)
        {
        }
    }
#pragma warning restore CA1031

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
