using System.Diagnostics;

namespace WorkerPool.Testing;

/// <summary>
/// A one-line leak check for tests: <c>await WorkerPoolLeakCheck.VerifyNoneAsync();</c> at the end of a test fails if
/// any pool worker outlived it. Like Go's <c>goleak.VerifyNone</c>, it retries with backoff first, so that workers
/// already on their way out can finish.
/// </summary>
/// <remarks>
/// Thread-safe and framework-neutral: it throws <see cref="WorkerPoolLeakException"/>, which every test framework
/// reports as a failure. When tests run in parallel, scope the check to the pools a test owns by giving them a name of
/// their own and passing it, so that tests do not blame each other.
/// </remarks>
public static class WorkerPoolLeakCheck
{
    /// <summary>How long the check waits by default for workers to end: about one second.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Waits until no worker of any pool in the process (or, with <paramref name="poolName"/>, of the pools with that
    /// name) is alive, retrying with backoff for up to <paramref name="timeout"/>.
    /// </summary>
    /// <param name="poolName">Only check pools with this <see cref="WorkerPoolOptions.Name"/>; <see langword="null"/> for every pool.</param>
    /// <param name="timeout">How long to wait for workers to end; <see langword="null"/> for <see cref="DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Stops the wait early.</param>
    /// <returns>A task that completes when no worker in scope is alive.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative.</exception>
    /// <exception cref="WorkerPoolLeakException">
    /// (From the task.) Workers were still alive when the time ran out. The message names each one, with the job it
    /// runs, that job's index, and how long it has run.
    /// </exception>
    /// <exception cref="OperationCanceledException">(From the task.) <paramref name="cancellationToken"/> was cancelled.</exception>
    public static Task VerifyNoneAsync(string? poolName = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        TimeSpan limit = timeout ?? DefaultTimeout;
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, TimeSpan.Zero, nameof(timeout));
        return VerifyNoneCoreAsync(poolName, limit, cancellationToken);
    }

    private static async Task VerifyNoneCoreAsync(string? poolName, TimeSpan limit, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        TimeSpan delay = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            IReadOnlyList<LiveWorkerInfo> live = poolName is null
                ? WorkerPoolDiagnostics.GetLiveWorkers()
                : WorkerPoolDiagnostics.GetLiveWorkers(poolName);
            if (live.Count == 0)
            {
                return;
            }

            TimeSpan waited = Stopwatch.GetElapsedTime(started);
            if (waited >= limit)
            {
                throw new WorkerPoolLeakException(live, waited);
            }

            TimeSpan remaining = limit - waited;
            await Task.Delay(delay < remaining ? delay : remaining, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMilliseconds(100).Ticks));
        }
    }
}
