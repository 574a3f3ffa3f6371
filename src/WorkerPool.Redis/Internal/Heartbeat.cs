using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace WorkerPool.Redis.Internal;

/// <summary>
/// Keeps the messages a consumer holds (read and not yet yielded, queued in the pool, running, or waiting for their
/// retry) from looking idle in Redis. Redis counts a pending message's idle time from its last delivery, not from
/// anything the consumer does with it, so a message that waits in a busy pool's queue would otherwise become "idle"
/// while its consumer is alive: this consumer's own takeover scan (XAUTOCLAIM) would count a delivery for it on every
/// pass, and other consumers would take it over and run it too. Every <see cref="PeriodFor"/> the heartbeat restarts
/// the idle time of the held messages this consumer still owns (<see cref="OwnedClaim.RefreshAsync"/>), so only a
/// consumer that stops heart-beating (dead, hung, or cut off from Redis) for longer than
/// <see cref="RedisStreamOptions.ClaimMinIdleTime"/> loses its messages to the others.
/// </summary>
/// <remarks>
/// Ownership: an enumeration of the source starts one with <see cref="Start"/> and stops it with
/// <see cref="StopAsync"/> in its <c>finally</c>, which cancels the loop and waits for it, so no heartbeat is sent once
/// the enumeration has ended. The loop runs on its own task, on the options' <see cref="TimeProvider"/>, whether or not
/// the enumeration is being pulled: a pool whose queue is full does not pull. A Redis command that keeps failing for
/// lack of a connection ends the loop with that failure once <see cref="RedisRetry"/> gives up. The read loop calls
/// <see cref="ThrowIfFailed"/> before each step, so the enumeration ends with it; and the loop first tells the owner of
/// the enumeration through its <c>failed</c> callback, if it has one, since the enumeration's next step may be far away
/// while the pool is full (<see cref="RedisStreamWorker{TJob, TResult}"/> stops its run then).
/// </remarks>
internal sealed class Heartbeat
{
    private static readonly TimeSpan ShortestPeriod = TimeSpan.FromMilliseconds(1);

    private readonly PendingLedger _ledger;
    private readonly OwnedClaim _claim;
    private readonly TimeSpan _period;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<Exception>? _failed;
    private readonly CancellationTokenSource _stop;
    private Task _loop = Task.CompletedTask;

    private Heartbeat(PendingLedger ledger, OwnedClaim claim, TimeSpan period, TimeProvider time, ILogger logger, Action<Exception>? failed, CancellationToken cancellationToken)
    {
        _ledger = ledger;
        _claim = claim;
        _period = period;
        _time = time;
        _logger = logger;
        _failed = failed;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    }

    /// <summary>
    /// Gets the period for a <paramref name="claimMinIdleTime"/>: a third of it, so that a beat that comes late, or a
    /// command that takes long, still restarts the idle time well before it reaches the minimum. At least 1 ms.
    /// </summary>
    internal static TimeSpan PeriodFor(TimeSpan claimMinIdleTime) =>
        TimeSpan.FromTicks(Math.Max(claimMinIdleTime.Ticks / 3, ShortestPeriod.Ticks));

    /// <summary>
    /// Starts beating every <paramref name="period"/>, until <see cref="StopAsync"/> or <paramref name="cancellationToken"/>.
    /// <paramref name="failed"/>, if given, is called on the loop's task with the failure that ends it, before
    /// <see cref="StopAsync"/> can complete; it must not throw.
    /// </summary>
    internal static Heartbeat Start(PendingLedger ledger, OwnedClaim claim, TimeSpan period, TimeProvider time, ILogger logger, Action<Exception>? failed, CancellationToken cancellationToken)
    {
        var heartbeat = new Heartbeat(ledger, claim, period, time, logger, failed, cancellationToken);
        heartbeat._loop = heartbeat.BeatAsync(heartbeat._stop.Token);
        return heartbeat;
    }

    /// <summary>Throws the failure that ended the loop, if one did.</summary>
    internal void ThrowIfFailed()
    {
        if (_loop.IsFaulted)
        {
            _loop.GetAwaiter().GetResult();
        }
    }

    /// <summary>Stops the loop and waits until it has ended; never throws.</summary>
    internal async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();

        // A failure the read loop did not get to see: observed here, and already logged by RedisRetry.
        _ = _loop.Exception;
    }

    private async Task BeatAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await Task.Delay(_period, _time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            List<string> held = _ledger.Held();
            if (held.Count == 0)
            {
                continue;
            }

            try
            {
                int owned = await _claim.RefreshAsync(held, cancellationToken).ConfigureAwait(false);
                Log.HeartbeatSent(_logger, held.Count, owned);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (RedisServerException exception) when (exception.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                // The group was deleted: the read loop makes it again, and nothing is pending in it meanwhile.
            }
            catch (Exception exception) when (_failed is not null)
            {
                _failed(exception);
                throw;
            }
        }
    }
}
