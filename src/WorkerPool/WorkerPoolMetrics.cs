using System.Diagnostics.Metrics;

namespace WorkerPool;

/// <summary>
/// The library's one <see cref="System.Diagnostics.Metrics.Meter"/>, named <see cref="MeterName"/>, and its instruments, named after OpenTelemetry's
/// semantic conventions. Every measurement carries the attribute <see cref="PoolNameAttribute"/> with the pool's name;
/// job measurements also carry <see cref="JobStatusAttribute"/>.
/// </summary>
/// <remarks>
/// <para>
/// Instruments: <c>workerpool.jobs.completed</c> (counter, <c>{job}</c>, by status), <c>workerpool.job.duration</c>
/// (histogram, seconds, by status; on .NET 9 and later with bucket advice from 10 µs to 5 min),
/// <c>workerpool.workers.active</c> (up-down counter, <c>{worker}</c>), and observable up-down counters
/// <c>workerpool.jobs.queued</c>, <c>workerpool.jobs.running</c> (<c>{job}</c>) and <c>workerpool.callers.waiting</c>
/// (<c>{caller}</c>: producers waiting in line for room in the queue). Up-down counters, because their sum across pools
/// and processes means something.
/// </para>
/// <para>
/// With no listener attached, each recording costs one check of <see cref="Instrument.Enabled"/>. A listener whose
/// callback throws loses that measurement; the pool goes on. Thread-safe.
/// </para>
/// </remarks>
public static class WorkerPoolMetrics
{
    /// <summary>The meter's name, for <c>AddMeter</c> in OpenTelemetry and <c>--counters</c> in dotnet-counters.</summary>
    public const string MeterName = "WorkerPool";

    /// <summary>The attribute that carries the pool's name on every measurement.</summary>
    public const string PoolNameAttribute = "workerpool.name";

    /// <summary>
    /// The attribute that carries how a job ended: <c>succeeded</c>, <c>failed</c>, <c>timed_out</c> or <c>canceled</c>
    /// (started or not).
    /// </summary>
    public const string JobStatusAttribute = "workerpool.job.status";

    internal const string PoolNameTag = PoolNameAttribute;

    internal const string StatusTag = JobStatusAttribute;

    private static readonly Meter Meter = new(MeterName, typeof(WorkerPoolMetrics).Assembly.GetName().Version?.ToString());

    /// <summary>Tag values for <see cref="StatusTag"/>, indexed by <see cref="JobStatus"/>.</summary>
    private static readonly string[] StatusNames = ["succeeded", "failed", "timed_out", "canceled"];

    internal static readonly Counter<long> JobsCompleted = Meter.CreateCounter<long>(
        "workerpool.jobs.completed", unit: "{job}", description: "Jobs that ended, by status: succeeded, failed, timed_out or canceled (started or not).");

#if NET9_0_OR_GREATER
    internal static readonly Histogram<double> JobDuration = Meter.CreateHistogram(
        "workerpool.job.duration",
        unit: "s",
        description: "How long each job's work call ran, by status.",
        tags: null,
        advice: new InstrumentAdvice<double>
        {
            // Jobs run from microseconds (in-memory work) to minutes (batch work): the default buckets stop at 10 s
            // and start at 5 ms.
            HistogramBucketBoundaries = [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
        });
#else
    internal static readonly Histogram<double> JobDuration = Meter.CreateHistogram<double>(
        "workerpool.job.duration", unit: "s", description: "How long each job's work call ran, by status.");
#endif

    internal static readonly UpDownCounter<int> WorkersActive = Meter.CreateUpDownCounter<int>(
        "workerpool.workers.active", unit: "{worker}", description: "Worker tasks that exist now.");

    static WorkerPoolMetrics()
    {
        Meter.CreateObservableUpDownCounter(
            "workerpool.jobs.queued", () => Observe(static source => source.QueuedJobs), unit: "{job}", description: "Jobs holding room in the pool's queue: the jobs waiting for a worker, and at a WorkerBatchSize above 1 the jobs of a worker's batch until it comes back to the queue.");
        Meter.CreateObservableUpDownCounter(
            "workerpool.jobs.running", () => Observe(static source => source.CountRunningJobs()), unit: "{job}", description: "Work calls executing now.");
        Meter.CreateObservableUpDownCounter(
            "workerpool.callers.waiting", () => Observe(static source => source.WaitingForRoom), unit: "{caller}", description: "Producers and submitters waiting in line for room in the queue.");
    }

    internal static string StatusName(JobStatus status) => StatusNames[(int)status];

    // The recording methods below never throw: a listener's callback runs inside Add and Record, and a listener that
    // throws must not end a worker's loop or a run's finish. What it breaks is its own measurement.
#pragma warning disable CA1031 // See above: a faulty listener must not harm the pool.

    /// <summary>Counts <paramref name="count"/> jobs that ended with <paramref name="status"/>.</summary>
    internal static void RecordCompleted(long count, KeyValuePair<string, object?> poolTag, JobStatus status)
    {
        // Stryker disable once Statement : with no listener, recording is a no-op; the return only skips its cost
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

    /// <summary>Whether a listener records per-job measurements: the worker then reads the clock as each job starts.</summary>
    internal static bool PerJobListened => JobsCompleted.Enabled || JobDuration.Enabled;

    /// <summary>Records an executed job's duration.</summary>
    internal static void RecordDuration(TimeSpan duration, KeyValuePair<string, object?> poolTag, JobStatus status)
    {
        // Stryker disable once Statement : with no listener, recording is a no-op; the return only skips its cost
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
        // Stryker disable once Statement : with no listener, recording is a no-op; the return only skips its cost
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
    private static List<Measurement<int>> Observe(Func<WorkerScheduler, int> read)
    {
        var measurements = new List<Measurement<int>>();
        foreach (WorkerScheduler pool in PoolRegistry.Snapshot())
        {
            if (!pool.IsDisposed || pool.CountRunningJobs() > 0 || pool.QueuedJobs > 0)
            {
                measurements.Add(new Measurement<int>(read(pool), new KeyValuePair<string, object?>(PoolNameTag, pool.Name)));
            }
        }

        return measurements;
    }
}
