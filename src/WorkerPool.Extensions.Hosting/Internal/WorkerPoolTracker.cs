namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>
/// One per service provider (a singleton): the pools that provider has built, so that the host's shutdown drains
/// exactly those, and the health check finds them by name. Thread-safe.
/// </summary>
internal sealed class WorkerPoolTracker
{
    private readonly object _sync = new();
    private readonly List<IHostedWorkerPool> _pools = [];

    public void Add(IHostedWorkerPool pool)
    {
        lock (_sync)
        {
            _pools.Add(pool);
        }
    }

    public IHostedWorkerPool[] Snapshot()
    {
        lock (_sync)
        {
            return [.. _pools];
        }
    }

    public IHostedWorkerPool? Find(string registeredName)
    {
        lock (_sync)
        {
            return _pools.Find(p => string.Equals(p.RegisteredName, registeredName, StringComparison.Ordinal));
        }
    }
}
