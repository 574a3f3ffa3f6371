using System.Diagnostics;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace WorkerPool.Redis.Internal;

/// <summary>
/// Runs one Redis command, and runs it again with backoff while it fails because the connection is lost or timed out,
/// for at most <see cref="RedisStreamOptions.ConnectionRetryTimeout"/>. The multiplexer reconnects by itself; this only
/// keeps the caller's loop alive meanwhile. So are the errors of a server in a passing state (see
/// <see cref="RedisTransience.IsPassingState"/>); other errors the server returns (such as a wrong type) are not retried.
/// </summary>
internal sealed class RedisRetry
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LongestDelay = TimeSpan.FromSeconds(2);

    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    internal RedisRetry(TimeSpan timeout, TimeProvider time, ILogger logger)
    {
        _timeout = timeout;
        _time = time;
        _logger = logger;
    }

    /// <summary>Whether <paramref name="exception"/> is worth another try: see <see cref="RedisTransience.IsTransient"/>.</summary>
    internal static bool IsTransient(Exception exception) => RedisTransience.IsTransient(exception);

    internal async Task<T> ExecuteAsync<T>(Func<Task<T>> command, string operation, CancellationToken cancellationToken)
    {
        long started = 0;
        TimeSpan delay = FirstDelay;
        while (true)
        {
            try
            {
                T result = await command().ConfigureAwait(false);
                if (started != 0)
                {
                    double outageMs = _time.GetElapsedTime(started).TotalMilliseconds;
                    Log.RedisRecovered(_logger, operation, outageMs);
                }

                return result;
            }
            catch (Exception exception) when (IsTransient(exception))
            {
                if (started == 0)
                {
                    started = _time.GetTimestamp();
                }

                TimeSpan elapsed = _time.GetElapsedTime(started);
                if (_timeout != Timeout.InfiniteTimeSpan && elapsed >= _timeout)
                {
                    Log.RedisGaveUp(_logger, operation, elapsed.TotalMilliseconds, exception);
                    throw;
                }

                Log.RedisUnavailable(_logger, operation, delay.TotalMilliseconds, exception);
            }

            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LongestDelay.Ticks));
            Debug.Assert(delay > TimeSpan.Zero, "The backoff never spins.");
        }
    }

    internal async Task ExecuteAsync(Func<Task> command, string operation, CancellationToken cancellationToken) =>
        await ExecuteAsync(
            async () =>
            {
                await command().ConfigureAwait(false);
                return true;
            },
            operation,
            cancellationToken).ConfigureAwait(false);
}
