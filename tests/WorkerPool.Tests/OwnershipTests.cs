using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>Behaviour 4: when a run's task completes, or a stream's enumerator is disposed, none of its work still executes.</summary>
public sealed class OwnershipTests : PoolTest
{
    [Fact]
    public async Task RunAsync_CallerCancels_TaskCompletesOnlyAfterEveryWorkCallReturned()
    {
        var probe = new WorkProbe<int>();
        var cleanup = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(probe.SlowToUnwind(cleanup.Task, job => job), new WorkerPoolOptions { MaxWorkers = 3 });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, 3), cts.Token);
        await Task.WhenAll(probe.Started(0), probe.Started(1), probe.Started(2)).Within();
        cts.Cancel();

        // The jobs are still unwinding: the run must not have completed.
        await Task.Yield();
        run.IsCompleted.Should().BeFalse();
        probe.Executing.Should().Be(3);

        cleanup.TrySetResult();
        int executingAtCompletion = await run.ContinueWith(_ => probe.Executing, TaskScheduler.Default).Within();
        executingAtCompletion.Should().Be(0);
        await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        probe.Calls.Should().Be(3);
    }

    [Fact]
    public async Task StreamAsync_ConsumerBreaks_DisposalReturnsOnlyAfterWorkStopped()
    {
        var probe = new WorkProbe<int>();
        var cleanup = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, token) =>
            {
                if (job == 0)
                {
                    return job;
                }

                try
                {
                    await Task.Delay(Timeout.Infinite, token);
                    return job;
                }
                catch (OperationCanceledException)
                {
                    await cleanup.Task;
                    throw;
                }
            }),
            new WorkerPoolOptions { MaxWorkers = 2, PreserveOrder = true });

        IAsyncEnumerator<JobResult<int, int>> enumerator = pool.StreamAsync(Enumerable.Range(0, 100)).GetAsyncEnumerator();
        (await enumerator.MoveNextAsync().Within()).Should().BeTrue();
        enumerator.Current.Index.Should().Be(0);
        await probe.Started(1).Within();

        // Leaving the loop early is DisposeAsync on the enumerator.
        Task disposal = enumerator.DisposeAsync().AsTask();
        await Task.Yield();
        disposal.IsCompleted.Should().BeFalse("job 1 is still unwinding");

        cleanup.TrySetResult();
        await disposal.Within();
        probe.Executing.Should().Be(0);
        pool.GetStatistics().RunningJobs.Should().Be(0);
    }

    [Fact]
    public async Task StreamAsync_ConsumerThrowsInsideLoop_RunStopsAndTheConsumersExceptionSurfaces()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, token) =>
            {
                if (job > 0)
                {
                    await Task.Delay(Timeout.Infinite, token);
                }

                return job;
            }),
            new WorkerPoolOptions { MaxWorkers = 2, PreserveOrder = true });

        async Task Consume()
        {
            await foreach (JobResult<int, int> result in pool.StreamAsync(Enumerable.Range(0, 50)))
            {
                throw new InvalidOperationException($"consumer failed on {result.Index}");
            }
        }

        Task consuming = Consume();
        var error = await consuming.ShouldThrowAsync<InvalidOperationException>();

        error.Message.Should().Be("consumer failed on 0");
        probe.Executing.Should().Be(0);
    }

    [Fact]
    public async Task StreamAsync_NeverEnumerated_StartsNothing()
    {
        var probe = new WorkProbe<int>();
        var source = Sources.Counting(10);
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job));

        IAsyncEnumerable<JobResult<int, int>> stream = pool.StreamAsync(source);
        await using (IAsyncEnumerator<JobResult<int, int>> enumerator = stream.GetAsyncEnumerator())
        {
            // Obtained and disposed without a single MoveNextAsync.
        }

        source.Enumerations.Should().Be(0);
        probe.Calls.Should().Be(0);
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
    }

    [Fact]
    public async Task DisposeAsync_DuringRuns_CancelsThemAndReturnsOnlyWhenEveryWorkerEnded()
    {
        var probe = new WorkProbe<int>();
        var cleanup = TestExtensions.NewGate();
        var pool = new BoundedWorkerPool<int, int>(probe.SlowToUnwind(cleanup.Task, job => job), new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 4 });

        // The queue is FIFO across runs: start the second run once the first one's only job holds a worker.
        Task<IReadOnlyList<JobResult<int, int>>> first = pool.RunAsync([0]);
        await probe.Started(0).Within();
        Task<IReadOnlyList<JobResult<int, int>>> second = pool.RunAsync(Enumerable.Range(100, 10));
        await probe.Started(100).Within();

        Task disposal = pool.DisposeAsync().AsTask();
        Task<bool> runsEndedAtDisposal = disposal.ReadWhenDone(() => first.IsCompleted && second.IsCompleted);
        await Task.Yield();
        disposal.IsCompleted.Should().BeFalse("two jobs are still unwinding");

        cleanup.TrySetResult();
        await disposal.Within();

        probe.Executing.Should().Be(0);
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
        (await runsEndedAtDisposal.Within()).Should().BeTrue("every RunAsync call the disposal cancelled has completed when it returns");
        var canceled = await first.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Message.Should().Contain("disposed");
        canceled.Results.Should().ContainSingle().Which.Status.Should().Be(JobStatus.Canceled);
        var secondCanceled = await second.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        secondCanceled.Results.Select(r => r.Index).Should().Equal(Enumerable.Range(0, secondCanceled.Results.Count).Select(i => (long)i));
        secondCanceled.Results.Should().HaveCountGreaterThan(1);
    }

    [Fact]
    public async Task DisposeAsync_StreamConsumerPausedBetweenItems_CompletesAndTheConsumerThenSeesCancellation()
    {
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, token) =>
            {
                if (job > 0)
                {
                    await Task.Delay(Timeout.Infinite, token);
                }

                return job;
            }),
            new WorkerPoolOptions { MaxWorkers = 2, PreserveOrder = true });

        await using IAsyncEnumerator<JobResult<int, int>> paused = pool.StreamAsync(Enumerable.Range(0, 100)).GetAsyncEnumerator();
        (await paused.MoveNextAsync().Within()).Should().BeTrue();
        await probe.Started(1).Within();

        // The consumer does not call MoveNextAsync again: disposal must not wait for it, only for the work.
        await pool.DisposeAsync().Within();
        probe.Executing.Should().Be(0);
        pool.GetStatistics().ActiveWorkers.Should().Be(0);

        var canceled = await paused.MoveNextAsync().AsTask().ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Results.Should().NotBeEmpty().And.OnlyContain(r => r.Status == JobStatus.Canceled);
    }

    [Fact]
    public async Task DisposeAsync_CalledTwiceConcurrently_BothWaitForTheSameShutdown()
    {
        var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
        await pool.RunAsync(Enumerable.Range(0, 100)).Within();

        await Task.WhenAll(pool.DisposeAsync().AsTask(), pool.DisposeAsync().AsTask()).Within();
        await pool.DisposeAsync().Within();

        pool.GetStatistics().ActiveWorkers.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_AsyncSourceNeverYieldsAgain_CancellationStillEndsTheRun()
    {
        var source = new StuckAsyncSource(3);
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Wrap<int>((job, _) => ValueTask.FromResult(job)));
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source, cts.Token);
        await Task.WhenAll(source.Stuck, probe.Started(0), probe.Started(1), probe.Started(2)).Within();
        cts.Cancel();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Results.Should().HaveCount(3).And.OnlyContain(r => r.IsSuccess);
        source.Disposed.Should().BeFalse("its MoveNextAsync is still pending; disposing now would be illegal");

        source.Unstick();
        await pool.DisposeAsync();
    }

    [Fact]
    public async Task RunAsync_OneOfSeveralConcurrentRunsCancelled_OthersFinishUntouched()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 3, QueueCapacity = 30 });
        using var cts = new CancellationTokenSource();

        // The queue is FIFO across runs: let the victim's jobs take the workers first, then queue the others behind them.
        Task<IReadOnlyList<JobResult<int, int>>> victim = pool.RunAsync(Enumerable.Range(0, 10), cts.Token);
        await Task.WhenAll(probe.Started(0), probe.Started(1), probe.Started(2)).Within();
        Task<IReadOnlyList<JobResult<int, int>>> a = pool.RunAsync(Enumerable.Range(100, 10));
        Task<IReadOnlyList<JobResult<int, int>>> b = pool.RunAsync(Enumerable.Range(200, 10));
        cts.Cancel();
        await victim.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();

        probe.ReleaseAll();
        (await a.Within()).Should().HaveCount(10).And.OnlyContain(r => r.IsSuccess);
        (await b.Within()).Should().HaveCount(10).And.OnlyContain(r => r.IsSuccess);
        probe.Executing.Should().Be(0);
    }
}
