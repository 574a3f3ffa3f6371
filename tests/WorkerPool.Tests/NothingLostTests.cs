using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>Behaviour 6: exactly one outcome per pulled job, in the documented order, also when a run is cancelled.</summary>
public sealed class NothingLostTests : PoolTest
{
    [Fact]
    public async Task RunAsync_JobsCompleteInReverseOrder_ResultsStillComeInInputOrder()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, string>(probe.Gated(job => $"r{job}"), new WorkerPoolOptions { MaxWorkers = 4 });

        Task<IReadOnlyList<JobResult<int, string>>> run = pool.RunAsync(Enumerable.Range(0, 4));
        await Task.WhenAll(Enumerable.Range(0, 4).Select(probe.Started)).Within();
        for (int job = 3; job >= 0; job--)
        {
            probe.Release(job);
        }

        IReadOnlyList<JobResult<int, string>> results = await run.Within();

        results.Select(r => r.Value).Should().Equal("r0", "r1", "r2", "r3");
        results.Select(r => r.Job).Should().Equal(0, 1, 2, 3);
        results.Select(r => r.Index).Should().Equal(0L, 1L, 2L, 3L);
    }

    [Fact]
    public async Task StreamAsync_WithoutPreserveOrder_YieldsInCompletionOrder()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 3 });

        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync(Enumerable.Range(0, 3)).GetAsyncEnumerator();
        Task<bool> first = stream.MoveNextAsync().AsTask();
        await Task.WhenAll(probe.Started(0), probe.Started(1), probe.Started(2)).Within();

        var order = new List<long>();
        foreach (int job in new[] { 2, 0, 1 })
        {
            probe.Release(job);
            (await (order.Count == 0 ? first : stream.MoveNextAsync().AsTask()).Within()).Should().BeTrue();
            order.Add(stream.Current.Index);
        }

        order.Should().Equal(2L, 0L, 1L);
        (await stream.MoveNextAsync().Within()).Should().BeFalse();
    }

    [Fact]
    public async Task StreamAsync_WithPreserveOrder_YieldsInInputOrder()
    {
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                // Later jobs finish first.
                for (int i = 0; i < (50 - job) % 7; i++)
                {
                    await Task.Yield();
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 4, QueueCapacity = 3, PreserveOrder = true });

        List<JobResult<int, int>> results = await pool.StreamAsync(Enumerable.Range(0, 500)).CollectAsync().Within();

        results.Select(r => r.Index).Should().Equal(Enumerable.Range(0, 500).Select(i => (long)i));
    }

    [Fact]
    public async Task StreamAsync_Cancelled_YieldedAndAttachedOutcomesCoverEveryPulledJobExactlyOnce()
    {
        var probe = new WorkProbe<int>();
        var source = Sources.Counting(50);
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 4 });
        using var cts = new CancellationTokenSource();

        var yielded = new List<long>();
        async Task Consume()
        {
            await foreach (JobResult<int, int> result in pool.StreamAsync(source, cts.Token))
            {
                yielded.Add(result.Index);
                if (yielded.Count == 3)
                {
                    cts.Cancel();
                }
            }
        }

        Task consuming = Consume();
        for (int job = 0; job < 3; job++)
        {
            await probe.Started(job).Within();
            probe.Release(job);
        }

        var canceled = await consuming.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();

        probe.Executing.Should().Be(0);
        yielded.Should().BeEquivalentTo([0L, 1L, 2L], "completion order between released jobs is not fixed");
        canceled.Results.Select(r => r.Index).Should().BeInAscendingOrder();
        yielded.Concat(canceled.Results.Select(r => r.Index)).Should().BeEquivalentTo(Enumerable.Range(0, (int)source.Pulled).Select(i => (long)i));
    }

    [Fact]
    public async Task RunAsync_CancelledWithMixedOutcomes_ExceptionCarriesOneOutcomePerPulledJobInOrder()
    {
        var probe = new WorkProbe<int>();
        var source = Sources.Counting(100);
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, token) =>
            {
                if (job == 1)
                {
                    throw new InvalidOperationException("job 1 failed");
                }

                if (job >= 2)
                {
                    await Task.Delay(Timeout.Infinite, token);
                }

                return job;
            }),
            new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 5 });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source, cts.Token);
        await Task.WhenAll(probe.Started(2), probe.Started(3)).Within();
        cts.Cancel();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        IReadOnlyList<JobResult<int, int>> outcomes = canceled.Results;

        outcomes.Select(r => r.Index).Should().Equal(Enumerable.Range(0, (int)source.Pulled).Select(i => (long)i));
        outcomes[0].Status.Should().Be(JobStatus.Succeeded);
        outcomes[1].Status.Should().Be(JobStatus.Failed);
        outcomes[2].Status.Should().Be(JobStatus.Canceled);
        outcomes[3].Status.Should().Be(JobStatus.Canceled);
        outcomes.Skip(4).Should().OnlyContain(r => r.Status == JobStatus.Canceled && r.Error == null, "they never started");
        probe.Calls.Should().Be(4);
    }

    [Fact]
    public async Task RunAsync_EmptySource_ReturnsEmptyListAndStartsNoWorker()
    {
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));

        (await pool.RunAsync([]).Within()).Should().BeEmpty();
        (await pool.RunAsync(Sources.RangeAsync(0)).Within()).Should().BeEmpty();
        (await pool.StreamAsync(Array.Empty<int>()).CollectAsync().Within()).Should().BeEmpty();
        pool.GetStatistics().PeakWorkers.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_SingleJobOnTheSmallestPool_Works()
    {
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job + 1), new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 1 });

        (await pool.RunAsync([41]).Within()).Should().ContainSingle().Which.Value.Should().Be(42);
        (await pool.RunAsync(Enumerable.Range(0, 1000)).Within()).Select(r => r.Value).Should().Equal(Enumerable.Range(1, 1000));
    }

    [Fact]
    public async Task RunAsync_NullJobsAndNullResults_AreCarriedThrough()
    {
        await using var pool = new BoundedWorkerPool<string?, string?>((job, _) => ValueTask.FromResult(job is null ? null : job + "!"));

        IReadOnlyList<JobResult<string?, string?>> results = await pool.RunAsync(new[] { "a", null, "c" }).Within();

        results.Select(r => r.Job).Should().Equal("a", null, "c");
        results.Select(r => r.Value).Should().Equal("a!", null, "c!");
        results.Should().OnlyContain(r => r.IsSuccess);
    }

    [Fact]
    public async Task RunAsync_AsyncSource_ResultsInInputOrder()
    {
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                await Task.Yield();
                return job * 3;
            },
            new WorkerPoolOptions { MaxWorkers = 3, QueueCapacity = 2 });

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Sources.RangeAsync(300)).Within();

        results.Select(r => r.Value).Should().Equal(Enumerable.Range(0, 300).Select(i => i * 3));
    }

    [Fact]
    public async Task RunAsync_SourceReportsACountTooLargeToPreallocate_RunsAndCancelsNormally()
    {
        // Enumerable.Range reports int.MaxValue without being enumerated: the pool must not try to allocate for it.
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 1 });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, int.MaxValue), cts.Token);
        probe.Release(0);
        await probe.Started(1).Within();
        cts.Cancel();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Results[0].Status.Should().Be(JobStatus.Succeeded);
        canceled.Results.Skip(1).Should().OnlyContain(r => r.Status == JobStatus.Canceled);
        probe.Executing.Should().Be(0);
    }

    [Theory]
    [InlineData(int.MaxValue - 1, 1)]
    [InlineData(int.MaxValue, 4)]
    public async Task StreamAsync_QueueCapacityNearIntMaxValue_StreamsInOrderWithoutOverflow(int queueCapacity, int maxWorkers)
    {
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                await Task.Yield();
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = maxWorkers, QueueCapacity = queueCapacity, PreserveOrder = true });

        List<JobResult<int, int>> results = await pool.StreamAsync(Enumerable.Range(0, 300)).CollectAsync().Within();

        results.Select(r => r.Value).Should().Equal(Enumerable.Range(0, 300));
    }

    [Fact]
    public async Task RunAsync_SourceWithoutACount_ResultsInInputOrderAcrossManySlotChunks()
    {
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job * 2), new WorkerPoolOptions { MaxWorkers = 2 });
        IEnumerable<int> Uncounted()
        {
            for (int i = 0; i < 5_000; i++)
            {
                yield return i;
            }
        }

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Uncounted()).Within();
        IReadOnlyList<JobResult<int, int>> asyncResults = await pool.RunAsync(Sources.RangeAsync(5_000)).Within();

        foreach (IReadOnlyList<JobResult<int, int>> list in new[] { results, asyncResults })
        {
            list.Should().HaveCount(5_000);
            list.Select(r => r.Index).Should().Equal(Enumerable.Range(0, 5_000).Select(i => (long)i));
            Enumerable.Range(0, list.Count).Select(i => list[i].Value).Should().Equal(Enumerable.Range(0, 5_000).Select(i => i * 2));
            ((System.Collections.IEnumerable)list).Cast<JobResult<int, int>>().Select(r => r.Value).Should().Equal(list.Select(r => r.Value));
            FluentActions.Invoking(() => list[5_000]).Should().Throw<ArgumentOutOfRangeException>();
            FluentActions.Invoking(() => list[-1]).Should().Throw<ArgumentOutOfRangeException>();
        }
    }

    [Theory]
    [InlineData(10, 25)]
    [InlineData(100, 30)]
    public async Task RunAsync_SourceCountDiffersFromWhatItYields_EveryYieldedJobHasItsOutcomeInOrder(int reported, int yielded)
    {
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(-job), new WorkerPoolOptions { MaxWorkers = 2 });

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(new MiscountedCollection(reported, yielded)).Within();

        results.Select(r => r.Value).Should().Equal(Enumerable.Range(0, yielded).Select(i => -i));
    }

    /// <summary>A collection whose Count says one thing while its enumerator yields another number of items.</summary>
    private sealed class MiscountedCollection(int reported, int yielded) : ICollection<int>
    {
        public int Count => reported;

        public bool IsReadOnly => true;

        public IEnumerator<int> GetEnumerator() => Enumerable.Range(0, yielded).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public void Add(int item) => throw new NotSupportedException();

        public void Clear() => throw new NotSupportedException();

        public bool Contains(int item) => throw new NotSupportedException();

        public void CopyTo(int[] array, int arrayIndex) => throw new NotSupportedException();

        public bool Remove(int item) => throw new NotSupportedException();
    }

    [Fact]
    public async Task StreamAsync_PreserveOrder_FirstJobFinishesLast_AllOthersWaitInOrderBehindIt()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, token) => job == 0 ? probe.Gated(j => j)(job, token) : ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 4, QueueCapacity = 200, PreserveOrder = true });

        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync(Enumerable.Range(0, 100)).GetAsyncEnumerator();
        ValueTask<bool> first = stream.MoveNextAsync();
        await probe.Started(0).Within();
        pool.GetStatistics().Succeeded.Should().BeLessThan(100);
        probe.Release(0);

        var yielded = new List<int>();
        for (bool more = await first.AsTask().Within(); more; more = await stream.MoveNextAsync().AsTask().Within())
        {
            yielded.Add(stream.Current.Value);
        }

        yielded.Should().Equal(Enumerable.Range(0, 100));
    }

    [Fact]
    public async Task StreamAsync_PreserveOrderCancelledWhileLaterOutcomesWait_TheyAreAllAttachedInOrder()
    {
        var probe = new WorkProbe<int>();
        var othersDone = TestExtensions.NewGate();
        int done = 0;
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, token) =>
            {
                if (job == 0)
                {
                    return probe.Gated(j => j)(job, token);
                }

                if (Interlocked.Increment(ref done) == 99)
                {
                    othersDone.TrySetResult();
                }

                return ValueTask.FromResult(job);
            },
            new WorkerPoolOptions { MaxWorkers = 4, QueueCapacity = 200, PreserveOrder = true });
        using var cts = new CancellationTokenSource();

        IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync(Enumerable.Range(0, 100), cts.Token).GetAsyncEnumerator();
        Task<bool> first = stream.MoveNextAsync().AsTask();
        await Task.WhenAll(probe.Started(0), othersDone.Task).Within();
        cts.Cancel();

        var canceled = await first.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        await stream.DisposeAsync();
        canceled.Results.Select(r => r.Index).Should().Equal(Enumerable.Range(0, 100).Select(i => (long)i));
        canceled.Results[0].Status.Should().Be(JobStatus.Canceled);
        canceled.Results.Skip(1).Should().OnlyContain(r => r.Status == JobStatus.Succeeded);
    }
}
