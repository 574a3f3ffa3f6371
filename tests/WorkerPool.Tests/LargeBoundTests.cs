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

    [Fact]
    public async Task RunAsync_MoreWorkersThanTheFirstSlots_KeepsAndReusesEverySlotMade()
    {
        string name = $"slots-{Guid.NewGuid():N}";
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 8, Name = name });

        for (int round = 0; round < 2; round++)
        {
            // Five jobs at once: more workers than the slots made at first, so the slot array grows while they run.
            int[] jobs = [.. Enumerable.Range(round * 10, 5)];
            Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(jobs);
            await Task.WhenAll(jobs.Select(probe.Started)).Within();

            pool.GetStatistics().RunningJobs.Should().Be(5, "every running job's slot is seen");
            WorkerPoolDiagnostics.GetLiveWorkers(name).Select(w => w.WorkerId).Should().BeEquivalentTo(
                [0, 1, 2, 3, 4], "the second round reuses the slots the first one made");
            foreach (int job in jobs)
            {
                probe.Release(job);
            }

            (await run.Within()).Select(r => r.Value).Should().Equal(jobs);
            await pool.WhenNoWorkersAsync().Within();
        }
    }
}
