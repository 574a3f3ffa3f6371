using System.Runtime.InteropServices;

namespace WorkerPool;

/// <summary>
/// Describes one worker task that existed when <see cref="WorkerPoolDiagnostics.GetLiveWorkers()"/> took its snapshot,
/// and the job it was running, if any.
/// </summary>
/// <remarks>This is an immutable value; it is safe to share between threads.</remarks>
[StructLayout(LayoutKind.Auto)]
public readonly record struct LiveWorkerInfo
{
    /// <summary>Gets the name of the pool the worker belongs to.</summary>
    /// <value>The pool's <see cref="WorkerPoolOptions.Name"/>.</value>
    public required string PoolName { get; init; }

    /// <summary>Gets the worker's slot number inside its pool.</summary>
    /// <value>Between 0 and <see cref="WorkerPoolOptions.MaxWorkers"/> - 1.</value>
    public required int WorkerId { get; init; }

    /// <summary>Gets how long the worker task had existed when the snapshot was taken.</summary>
    /// <value>A non-negative time, on the pool's <see cref="WorkerPoolOptions.TimeProvider"/>.</value>
    public required TimeSpan Age { get; init; }

    /// <summary>Gets the job the worker was running, if any.</summary>
    /// <value>The in-flight job, or <see langword="null"/> if the worker was between jobs.</value>
    public RunningJobInfo? RunningJob { get; init; }

    /// <inheritdoc />
    public override string ToString() => RunningJob is { } job
        ? $"{PoolName} worker {WorkerId} (alive {Age.TotalMilliseconds:0} ms) running run {job.RunId} job {RunningJobInfo.Label(job.Index, job.JobText)} for {job.Elapsed.TotalMilliseconds:0} ms"
        : $"{PoolName} worker {WorkerId} (alive {Age.TotalMilliseconds:0} ms) between jobs";
}
