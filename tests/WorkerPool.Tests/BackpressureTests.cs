using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>Behaviour 2: at most QueueCapacity jobs wait, pool-wide; producers wait, cancellably; sources are lazy.</summary>
public sealed class BackpressureTests : PoolTest
{
    [Fact]
    public async Task RunAsync_FullQueue_ProducerStopsPullingUntilAJobEnds()
    {
        var probe = new WorkProbe<int>();
        var fourthPull = TestExtensions.NewGate();
        var source = Sources.Counting(20, onPull: n =>
        {
            if (n == 4)
            {
                fourthPull.TrySetResult();
            }
        });
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 2 });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);
        await probe.Started(0).Within();
        await fourthPull.Task.Within();

        // One job runs, two wait in the queue, and the producer holds the fourth while it waits for room.
        pool.GetStatistics().QueuedJobs.Should().BeLessThanOrEqualTo(2);
        source.Pulled.Should().Be(4);

        probe.ReleaseAll();
        (await run.Within()).Should().HaveCount(20);
        probe.Executing.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_TwoRunsShareTheQueue_QueuedJobsNeverExceedCapacityPoolWide()
    {
        const int Capacity = 3;
        int worst = 0;
        BoundedWorkerPool<int, int>? poolRef = null;
        void Observe(long _)
        {
            int queued = poolRef!.GetStatistics().QueuedJobs;
            int seen;
            while (queued > (seen = Volatile.Read(ref worst)) && Interlocked.CompareExchange(ref worst, queued, seen) != seen)
            {
            }
        }

        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                await Task.Yield();
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = Capacity });
        poolRef = pool;

        Task<IReadOnlyList<JobResult<int, int>>> first = pool.RunAsync(Sources.Counting(2000, Observe));
        Task<IReadOnlyList<JobResult<int, int>>> second = pool.RunAsync(Sources.Counting(2000, Observe));
        await Task.WhenAll(first, second).Within();

        worst.Should().BeLessThanOrEqualTo(Capacity);
        worst.Should().BeGreaterThan(0, "the check must have seen a non-empty queue to mean anything");
    }

    [Fact]
    public async Task RunAsync_CallerCancelsWhileProducerWaitsForRoom_RunEndsAndAccountsForEveryPulledJob()
    {
        var probe = new WorkProbe<int>();
        var thirdPull = TestExtensions.NewGate();
        var source = Sources.Counting(1000, onPull: n =>
        {
            if (n == 3)
            {
                thirdPull.TrySetResult();
            }
        });
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 1 });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source, cts.Token);
        await probe.Started(0).Within();
        await thirdPull.Task.Within();
        cts.Cancel();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        probe.Executing.Should().Be(0);
        probe.StartedJobs.Should().Equal(0);
        canceled.CancellationToken.Should().Be(cts.Token);
        canceled.Results.Select(r => r.Index).Should().Equal(0L, 1L, 2L);
        canceled.Results.Should().OnlyContain(r => r.Status == JobStatus.Canceled);
        canceled.Results[0].Error.Should().BeAssignableTo<OperationCanceledException>("job 0 was cancelled while it ran");
        canceled.Results[1].Error.Should().BeNull("job 1 never started");
        source.Pulled.Should().Be(3);
    }

    [Fact]
    public async Task StreamAsync_EndlessSource_IsPulledLazily()
    {
        var endless = Sources.Counting();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 8 });

        int seen = 0;
        await foreach (JobResult<int, int> result in pool.StreamAsync(endless))
        {
            result.IsSuccess.Should().BeTrue();
            if (++seen == 1000)
            {
                break;
            }
        }

        endless.Pulled.Should().BeLessThanOrEqualTo(1000 + 8 + 2 + 1);
        endless.Disposals.Should().Be(1, "the source's enumerator is disposed when the run ends");
    }

    [Fact]
    public async Task RunAsync_EndlessSourceCancelled_PullsOnlyWhatTheQueueHolds()
    {
        var probe = new WorkProbe<int>();
        var endless = Sources.Counting();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 5 });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(endless, cts.Token);
        await Task.WhenAll(probe.Started(0), probe.Started(1)).Within();
        cts.Cancel();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        endless.Pulled.Should().BeLessThanOrEqualTo(2 + 5 + 1);
        canceled.Results.Should().HaveCount((int)endless.Pulled);
    }
}
