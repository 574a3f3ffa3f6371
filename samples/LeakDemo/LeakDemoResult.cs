using WorkerPool;

namespace LeakDemo;

/// <summary>Everything one run of the demo measured.</summary>
/// <param name="Options">The settings the run used.</param>
/// <param name="ServerAddress">The loopback address Kestrel was bound to.</param>
/// <param name="Leaky">The measurements of <c>/leaky</c>, the "before".</param>
/// <param name="Pooled">The measurements of <c>/pooled</c>, the "after".</param>
/// <param name="Release">What it took to end the tasks <c>/leaky</c> left blocked.</param>
/// <param name="PoolStatistics">
/// The pool's statistics once everything had stopped; its job counts (succeeded, failed, timed out, cancelled) are those
/// of the measured <c>/pooled</c> load only, the warm-up requests left out.
/// </param>
/// <param name="PooledRequestsAborted">
/// Measured <c>/pooled</c> requests whose run the pool stopped because the client went away (warm-up left out).
/// </param>
/// <param name="Elapsed">The run's wall time.</param>
public sealed record LeakDemoResult(
    LeakDemoOptions Options,
    Uri ServerAddress,
    EndpointReport Leaky,
    EndpointReport Pooled,
    ReleaseReport Release,
    WorkerPoolStatistics PoolStatistics,
    int PooledRequestsAborted,
    TimeSpan Elapsed);

/// <summary>The measurements of one endpoint: its load, the process while it ran, and its recovery.</summary>
/// <param name="Endpoint">The endpoint's path.</param>
/// <param name="Load">What the clients saw.</param>
/// <param name="PeakLiveSubJobs">The most sub-job bodies alive at once, counted exactly (not sampled).</param>
/// <param name="PeakActiveWorkers">The most pool workers seen by the sampler.</param>
/// <param name="BaselineHeapBytes">The managed heap after a full collection, just before the load started.</param>
/// <param name="PeakHeapBytes">The largest managed heap sampled (<see cref="GC.GetTotalMemory(bool)"/> without a collection).</param>
/// <param name="PeakWorkingSetBytes">The largest working set sampled.</param>
/// <param name="RetainedHeapBytes">The managed heap after a full collection at the end of the grace period.</param>
/// <param name="LiveSubJobsAtLoadEnd">Sub-job bodies alive when the last client finished.</param>
/// <param name="LiveSubJobsAtEnd">Sub-job bodies still alive at the end of the grace period.</param>
/// <param name="Recovery">
/// The time from the end of the load until no request was in flight, no sub-job was alive and the heap was back within
/// <see cref="HeapTolerance"/> of its baseline; <see langword="null"/> if that did not happen within the grace period.
/// </param>
/// <param name="LoadEnd">When the load ended, relative to the start of the samples.</param>
/// <param name="Samples">The process samples, from the start of the load to the end of the grace period.</param>
public sealed record EndpointReport(
    string Endpoint,
    LoadReport Load,
    int PeakLiveSubJobs,
    int PeakActiveWorkers,
    long BaselineHeapBytes,
    long PeakHeapBytes,
    long PeakWorkingSetBytes,
    long RetainedHeapBytes,
    int LiveSubJobsAtLoadEnd,
    int LiveSubJobsAtEnd,
    TimeSpan? Recovery,
    TimeSpan LoadEnd,
    IReadOnlyList<ProcessSample> Samples)
{
    /// <summary>How far above its baseline the heap may be and still count as recovered: 10%, and at least 2 MiB.</summary>
    /// <param name="baselineBytes">The baseline heap.</param>
    /// <returns>The tolerance in bytes.</returns>
    public static long HeapTolerance(long baselineBytes) => Math.Max(2L << 20, baselineBytes / 10);

    /// <summary>Gets whether the heap after the grace period was within tolerance of its baseline.</summary>
    public bool HeapStable => RetainedHeapBytes - BaselineHeapBytes <= HeapTolerance(BaselineHeapBytes);
}

/// <summary>What the clients saw for one endpoint.</summary>
/// <param name="Sent">Requests sent.</param>
/// <param name="Served">Requests answered (any status) before the client gave up.</param>
/// <param name="Succeeded">Answers with a 2xx status.</param>
/// <param name="Aborted">Requests the client aborted because its timeout elapsed.</param>
/// <param name="TransportErrors">Requests that failed at the HTTP or socket level.</param>
/// <param name="Duration">The time from the first request to the last answer or abort.</param>
/// <param name="LatencyP50">The median latency of the answered requests.</param>
/// <param name="LatencyP99">The 99th-percentile latency of the answered requests.</param>
public sealed record LoadReport(
    int Sent,
    int Served,
    int Succeeded,
    int Aborted,
    int TransportErrors,
    TimeSpan Duration,
    TimeSpan LatencyP50,
    TimeSpan LatencyP99);

/// <summary>What it took to end the tasks <c>/leaky</c> left blocked, by closing their channels.</summary>
/// <param name="Blocked">Sub-job bodies alive when the release started.</param>
/// <param name="Elapsed">The time until the last of them had ended.</param>
/// <param name="LiveAfter">Sub-job bodies of <c>/leaky</c> still alive afterwards: 0 unless the release timed out.</param>
public sealed record ReleaseReport(int Blocked, TimeSpan Elapsed, int LiveAfter);

/// <summary>One sample of the process.</summary>
/// <param name="Time">When it was taken, relative to the start of the endpoint's load.</param>
/// <param name="LiveSubJobs">Sub-job bodies alive.</param>
/// <param name="ActiveWorkers">The pool's <see cref="WorkerPoolStatistics.ActiveWorkers"/>.</param>
/// <param name="HeapBytes"><see cref="GC.GetTotalMemory(bool)"/> without a collection.</param>
/// <param name="WorkingSetBytes"><see cref="Environment.WorkingSet"/>.</param>
public readonly record struct ProcessSample(TimeSpan Time, int LiveSubJobs, int ActiveWorkers, long HeapBytes, long WorkingSetBytes);
