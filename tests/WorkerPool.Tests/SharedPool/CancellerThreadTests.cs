using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.SharedPool;

/// <summary>
/// A caller's <c>Cancel()</c> cancels its own jobs and returns: the workers those jobs free do not go on, inside that
/// <c>Cancel()</c>, to take and run other callers' jobs from the shared queue.
/// </summary>
public sealed class CancellerThreadTests : PoolTest
{
    [Fact]
    public async Task CallerCancelsItsParkedJob_CancelReturnsWhileAnotherCallersQueuedJobBlocks()
    {
        var parked = TestExtensions.NewGate();
        var otherStarted = TestExtensions.NewGate();
        using var release = new ManualResetEventSlim();
        await using var pool = new BoundedWorkerPool<string, int>(
            async (job, token) =>
            {
                if (job == "parked")
                {
                    // Parked on a task that the token's callback completes, inline, as much code does.
                    var wake = new TaskCompletionSource<int>();
                    using CancellationTokenRegistration registration = token.Register(() => wake.TrySetCanceled(token));
                    parked.TrySetResult();
                    return await wake.Task;
                }

                // Another caller's synchronous job: it blocks whichever thread runs it until the test releases it (the
                // limit only keeps a broken pool from hanging the suite: the test gives up on Cancel() well before it).
                otherStarted.TrySetResult();
                release.Wait(Bounded.Limit * 3, CancellationToken.None);
                return 1;
            },
            new WorkerPoolOptions { MaxWorkers = 1 });
        using var cts = new CancellationTokenSource();
        Task<IReadOnlyList<JobResult<string, int>>> cancelled = pool.RunAsync(["parked"], cts.Token);
        await parked.Task.Within();
        // Written to the queue within the call.
        Task<int> other = pool.SubmitAsync("other").AsTask();
        pool.GetStatistics().QueuedJobs.Should().Be(1, "the other caller's job waits for the only worker");

        try
        {
            // On a thread of its own, so that a Cancel() that runs the other caller's job cannot block the test.
            Task cancel = Task.Factory.StartNew(cts.Cancel, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            await otherStarted.Task.Within();

            await cancel.WithinLimit();
            release.IsSet.Should().BeFalse("Cancel() returned while the other caller's job still blocks");
        }
        finally
        {
            release.Set();
        }

        await cancelled.CaughtWithinLimitAsync();
        await other.CaughtWithinLimitAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PoolDisposed_OneCallersJobCallbackBlocks_AnotherCallersRunStillEndsCancelled(bool withJobTimeout)
    {
        using var release = new ManualResetEventSlim();
        var otherParked = TestExtensions.NewGate();
        var blockerParked = TestExtensions.NewGate();
        var blocking = TestExtensions.NewGate();
        var pool = new BoundedWorkerPool<string, int>(
            async (job, token) =>
            {
                if (job == "blocks")
                {
                    // Registered before the delay's own registration, so it runs after it, once the job has ended.
                    token.Register(() =>
                    {
                        blocking.TrySetResult();
                        release.Wait();
                    });
                    blockerParked.TrySetResult();
                }
                else
                {
                    otherParked.TrySetResult();
                }

                await Task.Delay(Timeout.Infinite, token);
                return 1;
            },
            new WorkerPoolOptions { MaxWorkers = 2, JobTimeout = withJobTimeout ? TimeSpan.FromHours(1) : Timeout.InfiniteTimeSpan });

        // The other caller first: the pool's disposal reaches the runs newest first, so the blocking caller's comes first.
        Task<IReadOnlyList<JobResult<string, int>>> other = pool.RunAsync(["parks"]);
        await otherParked.Task.Within();
        Task<IReadOnlyList<JobResult<string, int>>> blocker = pool.RunAsync(["blocks"]);
        await blockerParked.Task.Within();

        Task disposing = pool.DisposeAsync().AsTask();
        try
        {
            await blocking.Task.Within();
            await other.ShouldThrowAsync<OperationCanceledException>();
            await blocker.ShouldThrowAsync<OperationCanceledException>();
            await disposing.Within();
            release.IsSet.Should().BeFalse("both calls and the disposal ended while the job's callback still blocks");
        }
        finally
        {
            release.Set();
        }
    }
}
