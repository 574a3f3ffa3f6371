namespace WorkerPool;

/// <summary>
/// A process-wide, read-only view of every live worker of every <see cref="BoundedWorkerPool{TJob, TResult}"/>, and of
/// the job each one is running. Leak checks in tests are built on it (see the WorkerPool.Testing package).
/// </summary>
/// <remarks>
/// Thread-safe. Recording costs one interlocked operation when a worker starts and one when it ends, and nothing that
/// takes a lock on the per-job path. A snapshot reads each worker without stopping it, so a worker that is just
/// starting or ending a job may show its previous or next job.
/// </remarks>
public static class WorkerPoolDiagnostics
{
    /// <summary>Takes a snapshot of every live worker in the process.</summary>
    /// <returns>One entry per worker task that exists now, in no particular order.</returns>
    public static IReadOnlyList<LiveWorkerInfo> GetLiveWorkers() => PoolRegistry.SnapshotLiveWorkers(poolName: null);

    /// <summary>Takes a snapshot of the live workers of the pools named <paramref name="poolName"/>.</summary>
    /// <param name="poolName">A <see cref="WorkerPoolOptions.Name"/>. Names are compared ordinally.</param>
    /// <returns>One entry per worker task of those pools that exists now.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="poolName"/> is <see langword="null"/>.</exception>
    public static IReadOnlyList<LiveWorkerInfo> GetLiveWorkers(string poolName)
    {
        ArgumentNullException.ThrowIfNull(poolName);
        return PoolRegistry.SnapshotLiveWorkers(poolName);
    }
}
