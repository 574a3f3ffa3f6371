using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkerPool.Redis.Internal;

namespace WorkerPool.Redis.Hosting.Internal;

/// <summary>
/// Runs one registered worker for the life of the host: <see cref="RedisStreamWorker{TJob, TResult}.RunAsync"/> with the
/// host's stopping token, again after each run that Redis's absence ended, and never again after any other error.
/// </summary>
/// <remarks>
/// Ownership: <see cref="StartAsync"/> resolves the worker (the container owns it: a keyed singleton) and starts
/// <see cref="ExecuteAsync"/>, which the <see cref="BackgroundService"/> base owns. The host's stop cancels the stopping
/// token, which ends the run in flight or the wait before the next one; <see cref="BackgroundService.StopAsync"/> waits
/// for that, or for the host's shutdown timeout. A run returns only once none of its jobs and Redis reads is in flight,
/// so nothing of the worker runs after <see cref="ExecuteAsync"/> has returned.
/// </remarks>
internal sealed class RedisStreamWorkerService<TJob, TResult>(string name, IServiceProvider services) : BackgroundService
{
    private readonly RedisStreamWorkerState _state = services.GetRequiredKeyedService<RedisStreamWorkerState>(name);
    private readonly ILogger _logger = (services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("WorkerPool.Redis.Hosting");
    private RedisStreamWorker<TJob, TResult>? _worker;
    private TimeSpan _restartDelay;
    private TimeProvider _clock = TimeProvider.System;

    /// <summary>
    /// Builds the worker, so that a missing connection or options that are not valid fail the host's start, then starts
    /// the runs.
    /// </summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        RedisStreamWorkerOptions options = services.GetRequiredService<IOptionsMonitor<RedisStreamWorkerOptions>>().Get(name);
        RedisStreamWorker<TJob, TResult> worker = services.GetRequiredKeyedService<RedisStreamWorker<TJob, TResult>>(name);
        _worker = worker;
        _restartDelay = options.RestartDelay;
        _clock = options.Stream.TimeProvider;
        _state.Started(worker.GetStatistics, worker.MaxOutstanding);
        Log.WorkerStarted(_logger, name, options.Stream.ConsumerName, options.Stream.GroupName, options.Stream.StreamKey);
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        RedisStreamWorker<TJob, TResult> worker = _worker ?? throw new InvalidOperationException("The worker is built when the service starts.");
        while (!stoppingToken.IsCancellationRequested)
        {
            _state.Running();
            int restarts = _state.Current.Restarts;
            if (restarts > 0)
            {
                Log.WorkerRestarting(_logger, name, restarts);
            }

            try
            {
                // Ends with the stopping token's cancellation or with an error: a Redis source never ends by itself.
                await worker.RunAsync(stoppingToken).ConfigureAwait(false);
                break;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (WorkerPoolShutdownTimeoutException e) when (stoppingToken.IsCancellationRequested)
            {
                // An ordinary stop, but jobs ignored their token past the pool's ShutdownTimeout (the pool has logged each
                // at Error level). They may still run; their messages stay pending.
                Log.WorkerStoppedPastShutdownTimeout(_logger, e, name, e.RunningJobs.Count);
                break;
            }
            catch (Exception e) when (RedisTransience.IsTransient(e) || IsTransientBehindStuckJobs(e))
            {
                // Redis stayed unreachable, or in a passing state (BUSY, LOADING, READONLY...), past ConnectionRetryTimeout.
                // Nothing is lost: what this consumer had not acknowledged stays pending, and the next run takes it back first.
                if (stoppingToken.IsCancellationRequested)
                {
                    break;
                }

                _state.WaitingToRestart(e, _clock.GetUtcNow() + _restartDelay);
                Log.WorkerWaitingToRestart(_logger, e, name, _restartDelay.TotalMilliseconds);
                await Task.Delay(_restartDelay, _clock, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            catch (Exception e)
            {
                // A refused dead letter, a bug: running again would fail again, or hide it. The host's
                // BackgroundServiceExceptionBehavior decides what happens next (by default, it stops).
                _state.Failed(e);
                Log.WorkerFailed(_logger, e, name);
                throw;
            }
        }

        _state.Stopped();
        Log.WorkerStopped(_logger, name);
    }

    /// <summary>
    /// Whether the run ended because Redis was unreachable, and then waited past the pool's ShutdownTimeout for jobs that
    /// ignored their token: the pool reports the outage as the cause of the timeout.
    /// </summary>
    private static bool IsTransientBehindStuckJobs(Exception exception) =>
        exception is WorkerPoolShutdownTimeoutException { InnerException: { } cause } && RedisTransience.IsTransient(cause);
}
