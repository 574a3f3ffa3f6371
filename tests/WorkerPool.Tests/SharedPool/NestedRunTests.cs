using WorkerPool.Tests.Support;
using static WorkerPool.Tests.Support.TestExtensions;

namespace WorkerPool.Tests.SharedPool;

/// <summary>
/// How the bound is counted while a job waits for a nested run of its own pool: the job lends its place until the
/// nested run ends, and the pool is back within MaxWorkers once it has.
/// </summary>
public sealed class NestedRunTests : PoolTest
{
    [Fact]
    public async Task SubmitAsync_JobAwaitsANestedSubmission_LendsItsPlaceUntilTheNestedRunEnds()
    {
        TaskCompletionSource innerStarted = NewGate();
        TaskCompletionSource innerRelease = NewGate();
        BoundedWorkerPool<int, int>? self = null;
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) =>
            {
                if (job == 0)
                {
                    return await self!.SubmitAsync(1, ct) + 1;
                }

                innerStarted.SetResult();
                await innerRelease.Task.WaitAsync(ct);
                return 41;
            },
            new WorkerPoolOptions { MaxWorkers = 1 });
        self = pool;

        Task<int> outer = pool.SubmitAsync(0).AsTask();
        await innerStarted.Task.Within();

        pool.LentPlaces.Should().Be(1, "the outer job waits for its nested run");
        pool.GetStatistics().ActiveWorkers.Should().Be(2, "one place lent: one more worker than MaxWorkers");
        innerRelease.SetResult();
        (await outer.Within()).Should().Be(42);
        pool.LentPlaces.Should().Be(0, "the place comes back when the nested run ends");
        await pool.WhenNoWorkersAsync().Within();
        pool.GetStatistics().PeakWorkers.Should().Be(2);
    }

    [Fact]
    public async Task SubmitAsync_NestedRunEndsWhileItsLentWorkerRunsAJob_ThatWorkerRetiresAfterTheJob()
    {
        var probe = new WorkProbe<int>();
        Func<int, CancellationToken, ValueTask<int>> gated = probe.Gated(job => job);
        TaskCompletionSource nestedReturned = NewGate();
        TaskCompletionSource holdZero = NewGate();
        BoundedWorkerPool<int, int>? self = null;
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) =>
            {
                if (job == 0)
                {
                    await self!.SubmitAsync(100, ct);
                    nestedReturned.SetResult();
                    await holdZero.Task.WaitAsync(ct);
                    return 0;
                }

                return await gated(job, ct);
            },
            new WorkerPoolOptions { MaxWorkers = 1 });
        self = pool;
        try
        {
            // Job 0 waits for its nested job 100, which runs in the place it lent; another caller's jobs queue meanwhile.
            Task<int> outer = pool.SubmitAsync(0).AsTask();
            await probe.Started(100).Within();
            Task<IReadOnlyList<JobResult<int, int>>> other = pool.RunAsync([1, 2, 3]);
            await UntilAsync(() => pool.GetStatistics().QueuedJobs == 3).Within();

            // The nested run ends: the lent worker goes on to job 1, and job 0 holds its place again.
            probe.Release(100);
            await Task.WhenAll(nestedReturned.Task, probe.Started(1)).Within();
            await UntilAsync(() => pool.LentPlaces == 0).Within();
            pool.GetStatistics().ActiveWorkers.Should().Be(2, "a worker over the bound retires after its job, not during it");

            // After job 1 the pool is over its bound: that worker retires, and job 2 waits for job 0's place.
            probe.Release(1);
            await UntilAsync(() => pool.GetStatistics().ActiveWorkers == 1).Within();
            probe.StartedJobs.Should().BeEquivalentTo([100, 1], "job 0 holds the only place of MaxWorkers 1");

            holdZero.SetResult();
            probe.ReleaseAll();
            (await outer.Within()).Should().Be(0);
            (await other.Within()).Select(r => r.Value).Should().Equal(1, 2, 3);
            pool.GetStatistics().PeakWorkers.Should().Be(2);
        }
        finally
        {
            holdZero.TrySetResult();
            probe.ReleaseAll();
        }
    }

    [Fact]
    public async Task RunAsync_NestedRunEndsWhileJobsAreQueued_WorkersFallBackWithinTheBound()
    {
        TaskCompletionSource nestedDone = NewGate();
        TaskCompletionSource release = NewGate();
        int running = 0;
        int peakAfterReturn = 0;
        BoundedWorkerPool<int, int>? self = null;
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) =>
            {
                if (job == 0)
                {
                    await self!.SubmitAsync(100, ct);
                    nestedDone.SetResult();
                    await release.Task.WaitAsync(ct);
                    return 0;
                }

                if (nestedDone.Task.IsCompleted)
                {
                    int now = Interlocked.Increment(ref running);
                    int peak;
                    while (now > (peak = Volatile.Read(ref peakAfterReturn)) && Interlocked.CompareExchange(ref peakAfterReturn, now, peak) != peak)
                    {
                    }

                    await Task.Yield();
                    Interlocked.Decrement(ref running);
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 2 });
        self = pool;

        Task<IReadOnlyList<JobResult<int, int>>> outer = pool.RunAsync([0]);
        await nestedDone.Task.Within();
        IReadOnlyList<JobResult<int, int>> others = await pool.RunAsync(Enumerable.Range(1, 50)).Within();
        release.SetResult();
        await outer.Within();

        others.Should().OnlyContain(r => r.Status == JobStatus.Succeeded);
        peakAfterReturn.Should().BeLessThanOrEqualTo(1, "with the outer job holding its place again, one place of two is left");
        pool.LentPlaces.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_JobStartsANestedRunWhileTheQueueIsFull_ItsLentPlaceTakesTheQueuedJobAtOnce()
    {
        TaskCompletionSource firstTwoQueued = NewGate();
        BoundedWorkerPool<int, int>? self = null;
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) =>
            {
                if (job != 0)
                {
                    return job;
                }

                // Job 1 fills the queue, so the nested run's job waits in line: only a worker started for the lent
                // place can free the room it needs.
                await firstTwoQueued.Task.WaitAsync(ct);
                IReadOnlyList<JobResult<int, int>> nested = await self!.RunAsync([10], ct);
                return nested.Single().Value + 1;
            },
            new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 1 });
        self = pool;

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(TwoJobsThenSignal(firstTwoQueued)).Within();

        results.Select(r => r.Value).Should().Equal(11, 1);
        pool.GetStatistics().PeakWorkers.Should().Be(2);
        pool.LentPlaces.Should().Be(0);
    }

    /// <summary>Jobs 0 and 1, pulled one at a time; asked for a third, the producer has queued both and started their workers.</summary>
    private static IEnumerable<int> TwoJobsThenSignal(TaskCompletionSource queued)
    {
        yield return 0;
        yield return 1;
        queued.TrySetResult();
    }
}
