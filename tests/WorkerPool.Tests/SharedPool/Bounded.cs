namespace WorkerPool.Tests.SharedPool;

/// <summary>
/// Hang guards for tests of behaviour that may deadlock in a broken pool: every wait gives up after
/// <see cref="Limit"/>, so a broken pool fails the test instead of hanging the suite. A correct pool completes these
/// waits in milliseconds.
/// </summary>
internal static class Bounded
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Waits at most <see cref="Limit"/>. A task given up on is still observed when it ends, so that its fault cannot go
    /// unobserved and be blamed on a later test.
    /// </summary>
    public static Task<T> WithinLimit<T>(this Task<T> task)
    {
        Observe(task);
        return task.WaitAsync(Limit);
    }

    public static Task WithinLimit(this Task task)
    {
        Observe(task);
        return task.WaitAsync(Limit);
    }

    public static Task<T> WithinLimit<T>(this ValueTask<T> task) => task.AsTask().WithinLimit();

    public static Task WithinLimit(this ValueTask task) => task.AsTask().WithinLimit();

    /// <summary>Awaits a task that must fail, at most <see cref="Limit"/>, and returns what it threw (null if it did not).</summary>
    public static async Task<Exception?> CaughtWithinLimitAsync(this Task task)
    {
        try
        {
            await task.WithinLimit();
            return null;
        }
        catch (Exception exception)
        {
            return exception;
        }
    }

    /// <summary>Waits, at most <see cref="Limit"/>, until <paramref name="condition"/> holds; fails the test otherwise.</summary>
    public static async Task UntilAsync(Func<bool> condition, string because)
    {
        bool met = await Task.Run(() => SpinWait.SpinUntil(condition, Limit));
        met.Should().BeTrue("the test waits until {0}", because);
    }

    /// <summary>
    /// Disposes a pool at the end of a test that may have failed, without hanging and without hiding the failure.
    /// A correct pool is already disposed, so this returns at once.
    /// </summary>
    public static async Task DisposeQuietlyAsync(IAsyncDisposable pool)
    {
        Task disposing;
        try
        {
            disposing = pool.DisposeAsync().AsTask();
        }
#pragma warning disable CA1031 // The test has already failed, or already checked the disposal.
        catch (Exception)
        {
            return;
        }

        Observe(disposing);
        try
        {
            await disposing.WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (Exception)
        {
        }
#pragma warning restore CA1031
    }

    private static void Observe(Task task) => task.ContinueWith(
        static t => _ = t.Exception,
        CancellationToken.None,
        TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
        TaskScheduler.Default);
}
