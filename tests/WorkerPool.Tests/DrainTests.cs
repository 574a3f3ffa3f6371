using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>DrainAsync: no new runs, the runs in flight finish by themselves, or are cancelled when its token is.</summary>
public sealed class DrainTests : PoolTest
{
    [Fact]
    public async Task DrainAsync_RunInFlight_WaitsForItToFinishNormallyAndRefusesNewRuns()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job * 2), new WorkerPoolOptions { Name = "draining" });
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1, 2, 3]);
        await probe.Started(1).Within();

        Task drain = pool.DrainAsync();

        drain.IsCompleted.Should().BeFalse("the run in flight has not finished");
        Action runAgain = () => _ = pool.RunAsync([4]);
        Action submit = () => _ = pool.SubmitAsync(4).AsTask();
        runAgain.Should().Throw<InvalidOperationException>().WithMessage("*'draining' is draining*");
        submit.Should().Throw<InvalidOperationException>();
        await FluentActions.Awaiting(async () => await pool.StreamAsync([4]).CollectAsync()).Should().ThrowAsync<InvalidOperationException>();
        probe.ReleaseAll();
        (await run.Within()).Select(r => r.Value).Should().Equal(2, 4, 6);
        await drain.Within();
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
    }

    [Fact]
    public async Task DrainAsync_AJobInFlightStartsANestedRun_TheNestedRunIsAccepted()
    {
        TaskCompletionSource draining = TestExtensions.NewGate();
        BoundedWorkerPool<int, int>? self = null;
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) =>
            {
                if (job == 0)
                {
                    await draining.Task.WaitAsync(ct);
                    return await self!.SubmitAsync(41, ct) + 1;
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1 });
        self = pool;
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0]);

        Task drain = pool.DrainAsync();
        draining.SetResult();

        (await run.Within()).Single().Value.Should().Be(42);
        await drain.Within();
    }

    [Fact]
    public async Task DrainAsync_TokenCancelled_CancelsTheRunsAndReturnsOnceTheirWorkStopped()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job));
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1, 2]);
        await probe.Started(1).Within();
        using var cts = new CancellationTokenSource();

        Task drain = pool.DrainAsync(cts.Token);
        await cts.CancelAsync();
        await drain.Within();

        probe.Executing.Should().Be(0, "the drain returns only once the cancelled work has stopped");
        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Message.Should().Contain("drained");
    }

    [Fact]
    public async Task DrainAsync_TokenCancelledThenPoolDisposedBeforeTheRunEnds_TheRunSaysItWasDrained()
    {
        var started = TestExtensions.NewGate();
        var cancelled = TestExtensions.NewGate();
        var release = TestExtensions.NewGate();
        var pool = new BoundedWorkerPool<int, int>(async (job, token) =>
        {
            started.TrySetResult();
            using (token.Register(() => cancelled.TrySetResult()))
            {
                await release.Task;
            }

            return job;
        });
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1]);
        await started.Task.Within();
        using var cts = new CancellationTokenSource();
        Task drain = pool.DrainAsync(cts.Token);
        await cts.CancelAsync();
        await cancelled.Task.Within();

        // The job ignores its cancellation, so the run is still in flight when the pool is disposed.
        Task disposed = pool.DisposeAsync().AsTask();
        release.TrySetResult();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Message.Should().Contain("because the pool was drained");
        await drain.Within();
        await disposed.Within();
    }

    [Fact]
    public async Task DrainAsync_PoolDisposedThenTheDrainsTokenCancelledBeforeTheRunEnds_TheRunSaysThePoolWasDisposed()
    {
        var clock = new TestClock();
        TimeSpan shutdownTimeout = TimeSpan.FromSeconds(5);
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { ShutdownTimeout = shutdownTimeout, TimeProvider = clock });
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1]);
        using var cts = new CancellationTokenSource();
        try
        {
            await probe.Started(1).Within();
            Task drain = pool.DrainAsync(cts.Token);

            // Disposal stops the run first (its finish and the disposal each set a timer); the drain's token comes after,
            // and the drain's own wait sets the third timer.
            Task disposed = pool.DisposeAsync().AsTask();
            await clock.TimerSet(shutdownTimeout, count: 2).Within();
            await cts.CancelAsync();
            await clock.TimerSet(shutdownTimeout, count: 3).Within();
            probe.Release(1);

            var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
            canceled.Message.Should().Contain("because the pool was disposed", "the first reason to stop the run is the one it reports");
            await drain.Within();
            await disposed.Within();
        }
        finally
        {
            probe.ReleaseAll();
        }
    }

    [Fact]
    public async Task DrainAsync_CalledTwiceWhileARunIsInFlight_BothReturnOnceItFinishes()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job));
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1]);
        await probe.Started(1).Within();

        Task first = pool.DrainAsync();
        Task second = pool.DrainAsync();
        first.IsCompleted.Should().BeFalse();
        second.IsCompleted.Should().BeFalse();
        probe.Release(1);

        (await run.Within()).Should().ContainSingle().Which.Value.Should().Be(1);
        await Task.WhenAll(first, second).Within();
    }

    [Fact]
    public async Task DrainAsync_AfterDispose_ThrowsObjectDisposedException()
    {
        var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
        await pool.DisposeAsync();

        Action drain = () => _ = pool.DrainAsync();
        drain.Should().Throw<ObjectDisposedException>();
    }
    [Fact]
    public async Task DrainAsync_AStuckJobOfAnEndedRunStartsANestedRunAndReturns_TheDrainWaitsForTheNestedRun()
    {
        var clock = new TestClock();
        TimeSpan shutdownTimeout = TimeSpan.FromSeconds(5);
        TaskCompletionSource jobGate = TestExtensions.NewGate();
        TaskCompletionSource started = TestExtensions.NewGate();
        TaskCompletionSource sourceAsked = TestExtensions.NewGate();
        TaskCompletionSource sourceGate = TestExtensions.NewGate();
        Task<IReadOnlyList<JobResult<int, int>>>? nested = null;
        BoundedWorkerPool<int, int>? self = null;
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                if (job == 1)
                {
                    // Ignores its token past ShutdownTimeout, then starts a nested run it does not wait for.
                    started.TrySetResult();
                    await jobGate.Task;
                    nested = self!.RunAsync(NestedSource(sourceAsked, sourceGate.Task), CancellationToken.None);
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = shutdownTimeout, TimeProvider = clock });
        self = pool;
        using var cts = new CancellationTokenSource();
        try
        {
            Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1], cts.Token);
            await started.Task.Within();
            await cts.CancelAsync();
            await clock.TimerSet(shutdownTimeout).Within();
            clock.Advance(shutdownTimeout);
            await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();

            Task drain = pool.DrainAsync();
            Task<long> succeededWhenTheDrainReturned = drain.ReadWhenDone(() => pool.GetStatistics().Succeeded);

            // The stuck job returns after starting the nested run, whose producer then waits for its source: no worker is
            // left, but a run is.
            jobGate.SetResult();
            await sourceAsked.Task.Within();
            await pool.WhenNoWorkersAsync().Within();

            sourceGate.SetResult();
            await drain.Within();
            (await nested!.Within()).Select(r => r.Value).Should().Equal(2);

            // The nested run had left the pool, its job done. (Its RunAsync task completes a moment after it leaves, on the
            // thread that ended it, so the drain may return just before that task does.)
            (await succeededWhenTheDrainReturned.Within()).Should().Be(
                pool.GetStatistics().Succeeded, "a drain returns once no run is left, nested runs included: no job finished after it");
        }
        finally
        {
            jobGate.TrySetResult();
            sourceGate.TrySetResult();
        }

        static async IAsyncEnumerable<int> NestedSource(TaskCompletionSource asked, Task gate)
        {
            asked.TrySetResult();
            await gate;
            yield return 2;
        }
    }
}
