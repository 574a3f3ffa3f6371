namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>The view of one container-built pool, kept by <see cref="WorkerPoolTracker"/>.</summary>
internal sealed class HostedWorkerPool<TJob, TResult>(
    string registeredName,
    BoundedWorkerPool<TJob, TResult> pool) : IHostedWorkerPool
{
    private int _disposed;

    public string RegisteredName { get; } = registeredName;

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0 || pool.GetStatistics().IsDisposed;

    public WorkerPoolStatistics GetStatistics() => pool.GetStatistics();

    public async Task DrainAndDisposeAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (!IsDisposed)
            {
                await pool.DrainAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (ObjectDisposedException)
        {
            // Disposed by its owner meanwhile: there is nothing left to drain.
        }
        finally
        {
            Volatile.Write(ref _disposed, 1);
            await pool.DisposeAsync().ConfigureAwait(false);
        }
    }
}
