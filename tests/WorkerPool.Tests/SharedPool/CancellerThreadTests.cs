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
}
