namespace WorkerPool.Tests.Support;

internal static class TestExtensions
{
    /// <summary>
    /// A hang detector, not a synchroniser: a correct pool completes these tasks long before the limit, and a broken one
    /// fails the test instead of hanging the suite.
    /// </summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(30);

    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(HangLimit);

    public static Task Within(this Task task) => task.WaitAsync(HangLimit);

    public static Task Within(this ValueTask task) => task.AsTask().WaitAsync(HangLimit);

    public static Task<T> Within<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(HangLimit);

    /// <summary>Awaits a task that must fault or be cancelled, and returns its exception without the AggregateException wrapper.</summary>
    public static async Task<TException> ShouldThrowAsync<TException>(this Task task)
        where TException : Exception
    {
        Exception? caught = null;
        try
        {
            await task.WaitAsync(HangLimit);
        }
        catch (Exception exception)
        {
            caught = exception;
        }

        caught.Should().BeAssignableTo<TException>();
        return (TException)caught!;
    }

    /// <summary>Collects a stream into a list.</summary>
    public static Task<List<T>> CollectAsync<T>(this IAsyncEnumerable<T> source) => source.WithCancellation(default).CollectAsync();

    /// <summary>Collects a stream, enumerated with a cancellation token, into a list.</summary>
    public static async Task<List<T>> CollectAsync<T>(this System.Runtime.CompilerServices.ConfiguredCancelableAsyncEnumerable<T> source)
    {
        var list = new List<T>();
        await foreach (T item in source)
        {
            list.Add(item);
        }

        return list;
    }

    /// <summary>
    /// Reads a value at the instant <paramref name="task"/> completes, as part of its completion on the thread that
    /// completes it: "what was true when the caller regained control". Call it before awaiting the task, so that the read
    /// runs before the awaiting code resumes.
    /// </summary>
    public static Task<T> ReadWhenDone<T>(this Task task, Func<T> read) =>
        task.ContinueWith(_ => read(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    public static TaskCompletionSource NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static TaskCompletionSource<T> NewGate<T>() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Waits until <paramref name="condition"/> holds, yielding between reads. For a state that no gate can report (a
    /// producer waiting inside the pool); fails the test after <see cref="HangLimit"/>.
    /// </summary>
    public static async Task UntilAsync(Func<bool> condition)
    {
        DateTime deadline = DateTime.UtcNow + HangLimit;
        while (!condition())
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "the awaited state must come");
            await Task.Yield();
        }
    }
}
