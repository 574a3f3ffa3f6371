namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>A pool built by the container, seen without its type arguments: what the drain and the health check need.</summary>
internal interface IHostedWorkerPool
{
    /// <summary>The name the pool was registered under.</summary>
    string RegisteredName { get; }

    /// <summary>Whether the pool's disposal has begun.</summary>
    bool IsDisposed { get; }

    /// <summary>Takes a snapshot of the pool's statistics.</summary>
    WorkerPoolStatistics GetStatistics();

    /// <summary>Drains the pool (cancelling its runs once <paramref name="cancellationToken"/> is), then disposes it.</summary>
    Task DrainAndDisposeAsync(CancellationToken cancellationToken);
}
