using System.Threading.Tasks.Sources;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.SharedPool;

/// <summary>
/// Pools with <see cref="WorkerPoolOptions.WorkerBatchSize"/> above 1: a batch's jobs hold queue room only until they
/// start, so that the queue's counts and its admission see only jobs that wait.
/// </summary>
public sealed class WorkerBatchTests : PoolTest
{
    [Fact]
    public async Task QueuedJobs_WhileAJobOfABatchAwaits_CountsOnlyTheJobsNotStarted()
    {
        const int Jobs = 40;
        int started = 0;
        var exhausted = TestExtensions.NewGate();
        var parked = new AwaitedSource();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) =>
            {
                Interlocked.Increment(ref started);
                if (job == 0)
                {
                    // Every job is queued before the one worker goes on, so that its next take fills a batch.
                    exhausted.Task.Wait(TestExtensions.HangLimit, CancellationToken.None);
                }

                return job == 8 ? parked.ValueTask : ValueTask.FromResult(job);
            },
            // A clock that stands still: every job completes "within 20 µs", so the worker takes a batch after job 0.
            new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 64, WorkerBatchSize = 8, TimeProvider = new TestClock() });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Exhausting(Jobs, exhausted));
        try
        {
            // The worker waits for job 8, the last of its batch: everything it does before it waits is done.
            await parked.Awaited.Within();

            pool.GetStatistics().QueuedJobs.Should().Be(Jobs - Volatile.Read(ref started), "jobs that have started hold no queue room");
        }
        finally
        {
            parked.Complete(8);
        }

        (await run.Within()).Should().OnlyContain(r => r.IsSuccess).And.HaveCount(Jobs);
    }

    [Fact]
    public async Task RunAsync_CancelledWhileAJobOfABatchIsStuckPastShutdownTimeout_TheBatchsOtherJobsNeverStartAndCountAsCancelled()
    {
        const int Jobs = 40;
        var shutdownTimeout = TimeSpan.FromSeconds(5);
        int started = 0;
        var exhausted = TestExtensions.NewGate();
        var stuck = TestExtensions.NewGate();
        var release = TestExtensions.NewGate();
        var clock = new TestClock();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) =>
            {
                Interlocked.Increment(ref started);
                if (job == 0)
                {
                    exhausted.Task.Wait(TestExtensions.HangLimit, CancellationToken.None);
                }
                else if (job == 1)
                {
                    // The first job of the worker's batch: it ignores the cancellation, and returns only when told to.
                    stuck.TrySetResult();
                    release.Task.Wait(TestExtensions.HangLimit, CancellationToken.None);
                }

                return ValueTask.FromResult(job);
            },
            new WorkerPoolOptions
            {
                MaxWorkers = 1, QueueCapacity = 64, WorkerBatchSize = 8, ShutdownTimeout = shutdownTimeout, TimeProvider = clock,
            });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Exhausting(Jobs, exhausted), cts.Token);
        try
        {
            await stuck.Task.Within();
            cts.Cancel();
            await clock.TimerSet(shutdownTimeout).Within();
            clock.Advance(shutdownTimeout);
            await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
        }
        finally
        {
            release.TrySetResult();
        }

        // Job 1 took the shutdown timeout, so its worker gives its batch back, to a run that has closed meanwhile.
        await pool.WhenNoWorkersAsync().Within();
        Volatile.Read(ref started).Should().Be(2, "no job of a closed run starts, not even one its worker held");
        WorkerPoolStatistics statistics = pool.GetStatistics();
        statistics.Succeeded.Should().Be(2);
        statistics.Canceled.Should().Be(Jobs - 2, "every job that never started is counted once, those of the batch too");
    }

    /// <summary>A job's value task that says when its worker has started to wait for it (registered its continuation).</summary>
    private sealed class AwaitedSource : IValueTaskSource<int>
    {
        private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };
        private readonly TaskCompletionSource _awaited = TestExtensions.NewGate();

        public ValueTask<int> ValueTask => new(this, _core.Version);

        public Task Awaited => _awaited.Task;

        public void Complete(int value) => _core.SetResult(value);

        public int GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        {
            _core.OnCompleted(continuation, state, token, flags);
            _awaited.TrySetResult();
        }
    }

    private static IEnumerable<int> Exhausting(int count, TaskCompletionSource exhausted)
    {
        for (int i = 0; i < count; i++)
        {
            yield return i;
        }

        exhausted.TrySetResult();
    }
}
