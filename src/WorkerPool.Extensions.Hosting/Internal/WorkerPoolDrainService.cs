using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>
/// Registered once, whatever the number of pools. When the host stops, after every hosted service has stopped (so that
/// a web server has stopped taking requests, and background services have stopped feeding the pools), drains every
/// pool the container built with the host's shutdown token, then disposes it.
/// </summary>
/// <remarks>
/// The drain runs in <see cref="StoppedAsync"/> rather than <see cref="StopAsync"/>: hosted services stop in the reverse
/// order of their registration, so in <see cref="StopAsync"/> it could run before the web server stops, and requests
/// that arrive meanwhile would find the pools refusing new runs. The token is the one the host gives every stage of its
/// shutdown, cancelled when the host's shutdown timeout elapses.
/// </remarks>
internal sealed class WorkerPoolDrainService(WorkerPoolTracker tracker, ILoggerFactory? loggerFactory = null) : IHostedLifecycleService
{
    private readonly ILogger _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("WorkerPool.Extensions.Hosting");

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        IHostedWorkerPool[] pools = tracker.Snapshot();
        if (pools.Length == 0)
        {
            return Task.CompletedTask;
        }

        var drains = new Task[pools.Length];
        for (int i = 0; i < pools.Length; i++)
        {
            drains[i] = DrainAsync(pools[i], cancellationToken);
        }

        return Task.WhenAll(drains);
    }

    private async Task DrainAsync(IHostedWorkerPool pool, CancellationToken cancellationToken)
    {
        try
        {
            await pool.DrainAndDisposeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // A WorkerPoolShutdownTimeoutException: jobs ignored cancellation past ShutdownTimeout. The pool has logged
            // each of them; the host reports the exception as a failure of its shutdown.
            Log.PoolDrainFailed(_logger, e, pool.RegisteredName);
            throw;
        }

        if (cancellationToken.IsCancellationRequested)
        {
            Log.PoolDrainCanceledRuns(_logger, pool.RegisteredName);
        }
        else
        {
            Log.PoolDrained(_logger, pool.RegisteredName);
        }
    }
}
