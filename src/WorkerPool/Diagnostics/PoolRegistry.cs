namespace WorkerPool;

/// <summary>
/// Every pool in the process, held weakly: a pool that is never disposed can still be collected. A disposed pool stays
/// registered while it lives, so that workers stuck past its shutdown stay visible to diagnostics.
/// </summary>
internal static class PoolRegistry
{
    private static readonly List<WeakReference<IPoolDiagnostics>> Pools = [];

    /// <summary>What a pool exposes to diagnostics and to the metrics' observable gauges.</summary>
    internal interface IPoolDiagnostics
    {
        string Name { get; }

        bool IsDisposed { get; }

        int QueuedJobs { get; }

        int RunningJobs { get; }

        int WaitingForRoom { get; }

        void CollectLiveWorkers(List<LiveWorkerInfo> into);
    }

    internal static void Register(IPoolDiagnostics pool)
    {
        lock (Pools)
        {
            Pools.RemoveAll(static reference => !reference.TryGetTarget(out _));
            Pools.Add(new WeakReference<IPoolDiagnostics>(pool));
        }
    }

    internal static List<IPoolDiagnostics> Snapshot()
    {
        var pools = new List<IPoolDiagnostics>();
        lock (Pools)
        {
            foreach (WeakReference<IPoolDiagnostics> reference in Pools)
            {
                if (reference.TryGetTarget(out IPoolDiagnostics? pool))
                {
                    pools.Add(pool);
                }
            }
        }

        return pools;
    }

    internal static List<LiveWorkerInfo> SnapshotLiveWorkers(string? poolName)
    {
        var workers = new List<LiveWorkerInfo>();
        foreach (IPoolDiagnostics pool in Snapshot())
        {
            if (poolName is null || string.Equals(pool.Name, poolName, StringComparison.Ordinal))
            {
                pool.CollectLiveWorkers(workers);
            }
        }

        return workers;
    }
}
