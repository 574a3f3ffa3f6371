using System.Runtime.InteropServices;

namespace WorkerPool;

/// <summary>
/// A snapshot of a pool's state and counters. Counts run from the moment the pool was built.
/// </summary>
/// <remarks>
/// Each value is read atomically, but the values are not read at one single instant, so under load
/// they may be a few jobs apart from each other. The snapshot itself is immutable.
/// </remarks>
[StructLayout(LayoutKind.Auto)]
public readonly record struct WorkerPoolStatistics
{
    /// <summary>Gets the pool's bound on jobs executing at once, from its options.</summary>
    /// <value>The pool's <see cref="WorkerPoolOptions.MaxWorkers"/>.</value>
    public int MaxWorkers { get; init; }

    /// <summary>Gets the pool's bound on jobs waiting, from its options.</summary>
    /// <value>The pool's <see cref="WorkerPoolOptions.QueueCapacity"/>.</value>
    public int QueueCapacity { get; init; }

    /// <summary>Gets whether the pool is draining: <c>DrainAsync</c> was called, and it accepts no new runs.</summary>
    /// <value><see langword="true"/> from the first <c>DrainAsync</c> call on.</value>
    public bool IsDraining { get; init; }

    /// <summary>Gets whether the pool has been disposed.</summary>
    /// <value><see langword="true"/> from the first <c>Dispose</c> or <c>DisposeAsync</c> call on.</value>
    public bool IsDisposed { get; init; }

    /// <summary>Gets the number of worker tasks that exist now, including any still inside a job that ignored cancellation.</summary>
    /// <value>
    /// Between 0 and <see cref="MaxWorkers"/>, plus one for each job that waits for a nested run of its own pool (such a
    /// job lends its place in the bound).
    /// </value>
    public int ActiveWorkers { get; init; }

    /// <summary>Gets the largest number of worker tasks that ever existed at once.</summary>
    /// <value>Between 0 and <see cref="MaxWorkers"/>, plus the places lent by jobs that waited for nested runs.</value>
    public int PeakWorkers { get; init; }

    /// <summary>
    /// Gets the number of jobs that hold room in the pool's queue. At the default
    /// <see cref="WorkerPoolOptions.WorkerBatchSize"/> of 1 these are exactly the jobs waiting for a worker, and a running
    /// job is never counted. With a larger batch, the extra jobs of a worker's batch are counted until the worker next
    /// takes from the queue or gives the batch back: also after they ran, or while one runs synchronously, never while
    /// the worker waits for a job.
    /// </summary>
    /// <value>Between 0 and <see cref="QueueCapacity"/>.</value>
    public int QueuedJobs { get; init; }

    /// <summary>Gets the number of <c>work</c> calls executing now.</summary>
    /// <value>Between 0 and <see cref="MaxWorkers"/>, plus the jobs waiting for nested runs of their own pool.</value>
    public int RunningJobs { get; init; }

    /// <summary>Gets the number of jobs that ended with <see cref="JobStatus.Succeeded"/>.</summary>
    /// <value>A count since the pool was built.</value>
    public long Succeeded { get; init; }

    /// <summary>Gets the number of jobs that ended with <see cref="JobStatus.Failed"/>.</summary>
    /// <value>A count since the pool was built.</value>
    public long Failed { get; init; }

    /// <summary>Gets the number of jobs that ended with <see cref="JobStatus.TimedOut"/>.</summary>
    /// <value>A count since the pool was built.</value>
    public long TimedOut { get; init; }

    /// <summary>Gets the number of jobs that ended with <see cref="JobStatus.Canceled"/>, whether or not they had started.</summary>
    /// <value>A count since the pool was built.</value>
    public long Canceled { get; init; }
}
