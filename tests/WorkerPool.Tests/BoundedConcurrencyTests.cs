using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>Behaviour 1: at most MaxWorkers jobs execute, and at most MaxWorkers workers exist, across every run.</summary>
public sealed class BoundedConcurrencyTests : PoolTest
{
    [Fact]
    public async Task RunAsync_MoreJobsThanWorkers_ExactlyMaxWorkersExecuteUntilReleased()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 3, QueueCapacity = 10 });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, 10));
        await Task.WhenAll(probe.Started(0), probe.Started(1), probe.Started(2)).Within();

        // Three jobs are held inside their work call: no fourth may start while they are.
        probe.Executing.Should().Be(3);
        probe.Calls.Should().Be(3);
        pool.GetStatistics().ActiveWorkers.Should().Be(3);
        pool.GetStatistics().RunningJobs.Should().Be(3);

        probe.ReleaseAll();
        IReadOnlyList<JobResult<int, int>> results = await run.Within();

        probe.Executing.Should().Be(0);
        probe.Peak.Should().Be(3);
        results.Should().HaveCount(10).And.OnlyContain(r => r.IsSuccess);
        pool.GetStatistics().PeakWorkers.Should().Be(3);
    }

    [Fact]
    public async Task RunAsync_FewerJobsThanWorkers_StartsOneWorkerPerJob()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 4 });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1]);
        await Task.WhenAll(probe.Started(0), probe.Started(1)).Within();

        pool.GetStatistics().ActiveWorkers.Should().Be(2, "a worker starts only for a job that waits for one");
        probe.ReleaseAll();
        (await run.Within()).Should().HaveCount(2).And.OnlyContain(r => r.IsSuccess);
        pool.GetStatistics().PeakWorkers.Should().Be(2);
    }

    [Fact]
    public async Task RunAsync_ThousandConcurrentCalls_PeakWorkersNeverExceedsMaxWorkers()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, _) =>
            {
                await Task.Yield();
                return job + 1;
            }),
            new WorkerPoolOptions { MaxWorkers = 4, QueueCapacity = 16 });

        Task<IReadOnlyList<JobResult<int, int>>>[] runs = Enumerable.Range(0, 1000)
            .Select(r => pool.RunAsync(Enumerable.Range(r * 10, 10)))
            .ToArray();
        IReadOnlyList<JobResult<int, int>>[] all = await Task.WhenAll(runs).Within();

        probe.Executing.Should().Be(0);
        probe.Peak.Should().BeLessThanOrEqualTo(4);
        pool.GetStatistics().PeakWorkers.Should().BeInRange(1, 4);
        for (int r = 0; r < all.Length; r++)
        {
            all[r].Select(x => x.Value).Should().Equal(Enumerable.Range((r * 10) + 1, 10));
        }

        pool.GetStatistics().Succeeded.Should().Be(10_000);
    }

    [Fact]
    public async Task RunAndStream_ConcurrentCallsOfBothKinds_ShareOneBound()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, _) =>
            {
                await Task.Yield();
                return job;
            }),
            new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 4 });

        var tasks = new List<Task<int>>();
        for (int i = 0; i < 50; i++)
        {
            tasks.Add(pool.RunAsync(Enumerable.Range(0, 20)).ContinueWith(t => t.Result.Count, TaskScheduler.Default));
            tasks.Add(pool.StreamAsync(Enumerable.Range(0, 20)).CollectAsync().ContinueWith(t => t.Result.Count, TaskScheduler.Default));
        }

        int[] counts = await Task.WhenAll(tasks).Within();

        counts.Should().OnlyContain(c => c == 20);
        probe.Peak.Should().BeLessThanOrEqualTo(2);
        pool.GetStatistics().PeakWorkers.Should().BeLessThanOrEqualTo(2);
    }

    [Fact]
    public async Task Pool_AfterRunsEnd_HoldsNoWorkerTasks()
    {
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 4 });
        pool.GetStatistics().ActiveWorkers.Should().Be(0, "workers start on demand");

        await pool.RunAsync(Enumerable.Range(0, 1000)).Within();
        await pool.WhenNoWorkersAsync().Within();

        WorkerPoolStatistics stats = pool.GetStatistics();
        stats.ActiveWorkers.Should().Be(0);
        stats.RunningJobs.Should().Be(0);
        stats.QueuedJobs.Should().Be(0);
        stats.PeakWorkers.Should().BeInRange(1, 4);
    }

    [Fact]
    public async Task StreamAsync_ConsumerStopsReading_OtherRunsStillComplete()
    {
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 2 });

        // A stream over an endless source whose consumer takes one result and then stalls.
        var endless = Sources.Counting();
        await using IAsyncEnumerator<JobResult<int, int>> stalled = pool.StreamAsync(endless).GetAsyncEnumerator();
        (await stalled.MoveNextAsync().Within()).Should().BeTrue();

        // Every other run goes on at full speed: workers never wait on the stalled consumer.
        IReadOnlyList<JobResult<int, int>> other = await pool.RunAsync(Enumerable.Range(0, 10_000)).Within();
        other.Should().HaveCount(10_000).And.OnlyContain(r => r.IsSuccess);

        // And the stalled stream pulled no more than its window from its endless source.
        endless.Pulled.Should().BeLessThanOrEqualTo(2 + 2 + 1);
    }

    [Fact]
    public async Task RunAsync_JobGoesAsyncInTheMiddleOfShortJobs_EveryOtherJobRunsWhileItWaits()
    {
        // Workers take short jobs in batches. Jobs 300 and 600 park until released, each holding its worker: the jobs
        // after them in their worker's batch must go back to the queue and run on the third worker, not wait behind them.
        const int Jobs = 1000;
        int[] parked = [300, 600];
        var gates = parked.ToDictionary(job => job, _ => TestExtensions.NewGate());
        var othersDone = TestExtensions.NewGate();
        int done = 0;
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                if (gates.TryGetValue(job, out TaskCompletionSource? gate))
                {
                    await gate.Task;
                    return job;
                }

                if (Interlocked.Increment(ref done) == Jobs - parked.Length)
                {
                    othersDone.TrySetResult();
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 3, QueueCapacity = Jobs });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, Jobs));
        try
        {
            await othersDone.Task.Within();
            run.IsCompleted.Should().BeFalse("two jobs are still parked");
        }
        finally
        {
            // Also on failure: the parked jobs ignore their token, and the pool's disposal would wait for them.
            foreach (TaskCompletionSource gate in gates.Values)
            {
                gate.TrySetResult();
            }
        }

        (await run.Within()).Should().HaveCount(Jobs).And.OnlyContain(r => r.IsSuccess);
    }
}
