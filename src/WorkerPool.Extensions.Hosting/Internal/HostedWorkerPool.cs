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

    /// <summary>
    /// Drains the pool with the host's shutdown token, then disposes it. If the drain has already waited the pool's
    /// ShutdownTimeout for jobs that ignore cancellation, and throws naming them, the disposal is started but not waited
    /// for: it would wait for the same jobs a second ShutdownTimeout. It cancels nothing more (the drain cancelled every
    /// run), refuses new runs at once, and logs the jobs if they are still running when its own timeout passes.
    /// </summary>
    public async Task DrainAndDisposeAsync(CancellationToken cancellationToken)
    {
        bool waitForDisposal = true;
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
        catch (WorkerPoolShutdownTimeoutException)
        {
            waitForDisposal = false;
            throw;
        }
        finally
        {
            Volatile.Write(ref _disposed, 1);
            ValueTask disposal = pool.DisposeAsync();
            if (waitForDisposal)
            {
                await disposal.ConfigureAwait(false);
            }
            else
            {
                // DisposeAsync never faults; its task ends when the stuck jobs return or its timeout passes.
                _ = disposal.AsTask();
            }
        }
    }
}
