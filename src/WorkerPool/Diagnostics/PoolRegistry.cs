namespace WorkerPool;

/// <summary>
/// Every pool in the process, held weakly by its <see cref="WorkerScheduler"/>: a pool that is never disposed can still
/// be collected. A disposed pool stays registered while it lives, so that workers stuck past its shutdown stay visible
/// to diagnostics, and its metrics' gauges read it.
/// </summary>
internal static class PoolRegistry
{
    private static readonly List<WeakReference<WorkerScheduler>> Pools = [];

    internal static void Register(WorkerScheduler pool)
    {
        lock (Pools)
        {
            Pools.RemoveAll(static reference => !reference.TryGetTarget(out _));
            Pools.Add(new WeakReference<WorkerScheduler>(pool));
        }
    }

    /// <summary>How many pools are registered, collected ones not yet pruned included.</summary>
    internal static int Count
    {
        get
        {
            lock (Pools)
            {
                return Pools.Count;
            }
        }
    }

    internal static List<WorkerScheduler> Snapshot()
    {
        var pools = new List<WorkerScheduler>();
        lock (Pools)
        {
            foreach (WeakReference<WorkerScheduler> reference in Pools)
            {
                if (reference.TryGetTarget(out WorkerScheduler? pool))
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
        foreach (WorkerScheduler pool in Snapshot())
        {
            if (poolName is null || string.Equals(pool.Name, poolName, StringComparison.Ordinal))
            {
                pool.CollectLiveWorkers(workers);
            }
        }

        return workers;
    }
}
