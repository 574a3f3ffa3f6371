using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>A large MaxWorkers is a bound, not a cost: the pool holds memory for the workers it starts, not for the bound.</summary>
public sealed class LargeBoundTests : PoolTest
{
    [Fact]
    public async Task Constructor_MaxWorkersOfAMillion_AllocatesNothingPerPlaceInTheBound()
    {
        // A first pool pays for what every pool shares (the metrics' instruments, the registry, the default context).
        await new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 1 }).DisposeAsync();

        long before = GC.GetAllocatedBytesForCurrentThread();
        var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 1_000_000 });
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        await pool.DisposeAsync();

        allocated.Should().BeLessThan(64 * 1024, "an idle pool holds no worker, whatever its bound");
    }

    [Fact]
    public async Task RunAsync_MaxWorkersIntMaxValue_RunsJobsOnSeveralWorkersAndNestedRunsLendPlaces()
    {
        var probe = new WorkProbe<int>();
        BoundedWorkerPool<int, int>? self = null;
        Func<int, CancellationToken, ValueTask<int>> gated = probe.Gated(job => job);
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) => job == 0 ? await self!.SubmitAsync(100, ct) : await gated(job, ct),
            new WorkerPoolOptions { MaxWorkers = int.MaxValue });
        self = pool;

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1, 2, 3]);
        await Task.WhenAll(probe.Started(1), probe.Started(2), probe.Started(3), probe.Started(100)).Within();
        pool.LentPlaces.Should().Be(1, "job 0 waits for its nested submission");
        probe.ReleaseAll();

        (await run.Within()).Select(r => r.Value).Should().Equal(100, 1, 2, 3);
        pool.GetStatistics().PeakWorkers.Should().BeGreaterThanOrEqualTo(5, "four jobs and the nested one ran at once");
    }
}
