using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>SubmitAsync: one job at a time, inside the same pool-wide bound, with the same leak rules as RunAsync.</summary>
public sealed class SubmitAsyncTests : PoolTest
{
    private sealed class JobException() : Exception("the job failed");

    [Fact]
    public async Task SubmitAsync_Succeeds_ReturnsTheValue()
    {
        await using var pool = new BoundedWorkerPool<int, string>((job, _) => ValueTask.FromResult($"#{job}"));

        (await pool.SubmitAsync(42).Within()).Should().Be("#42");
    }

    [Fact]
    public async Task SubmitAsync_JobThrows_SurfacesTheJobsOwnException()
    {
        var failure = new JobException();
        await using var pool = new BoundedWorkerPool<int, int>(async (_, _) =>
        {
            await Task.Yield();
            throw failure;
        });

        (await pool.SubmitAsync(1).AsTask().ShouldThrowAsync<JobException>()).Should().BeSameAs(failure);
    }

    [Fact]
    public async Task SubmitAsync_JobExceedsJobTimeout_ThrowsTimeoutException()
    {
        TimeSpan jobTimeout = TimeSpan.FromSeconds(30);
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Gated(job => job),
            new WorkerPoolOptions { JobTimeout = jobTimeout, TimeProvider = clock });

        Task<int> submitted = pool.SubmitAsync(1).AsTask();
        await probe.Started(1).Within();
        clock.Advance(jobTimeout);

        var timeout = await submitted.ShouldThrowAsync<TimeoutException>();
        timeout.Should().NotBeOfType<WorkerPoolShutdownTimeoutException>();
    }

    [Fact]
    public async Task SubmitAsync_CancelledWhileWaitingForAWorker_JobNeverRuns()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1 });
        ValueTask<int> busy = pool.SubmitAsync(0);
        await probe.Started(0).Within();
        using var cts = new CancellationTokenSource();

        Task<int> waiting = pool.SubmitAsync(1, cts.Token).AsTask();
        cts.Cancel();

        var canceled = await waiting.ShouldThrowAsync<OperationCanceledException>();
        canceled.CancellationToken.Should().Be(cts.Token);
        probe.Release(0);
        (await busy.Within()).Should().Be(0);
        probe.StartedJobs.Should().Equal(0);
    }

    [Fact]
    public async Task SubmitAsync_CancelledWhileWaitingInLineForRoom_HandsBackItsJobAsNeverStarted()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 1 });
        ValueTask<int> running = pool.SubmitAsync(0);
        await probe.Started(0).Within();
        ValueTask<int> queued = pool.SubmitAsync(1);
        using var cts = new CancellationTokenSource();
        Task<int> inLine = pool.SubmitAsync(2, cts.Token).AsTask();
        await TestExtensions.UntilAsync(() => pool.WaitingForRoom == 1).Within();

        await cts.CancelAsync();

        var canceled = await inLine.ShouldThrowAsync<OperationCanceledException>();
        canceled.CancellationToken.Should().Be(cts.Token);
        JobResult<int, int> outcome = canceled.InnerException.Should().BeOfType<WorkerPoolCanceledException<int, int>>()
            .Which.Results.Should().ContainSingle("the job pulled for the submission has an outcome").Subject;
        outcome.Job.Should().Be(2);
        outcome.Status.Should().Be(JobStatus.Canceled);
        outcome.Duration.Should().Be(TimeSpan.Zero, "it never started");
        pool.GetStatistics().Canceled.Should().Be(1);

        probe.Release(0);
        probe.Release(1);
        (await running.AsTask().Within()).Should().Be(0);
        (await queued.AsTask().Within()).Should().Be(1);
        probe.StartedJobs.Should().BeEquivalentTo([0, 1], "the cancelled job never started");
    }

    [Fact]
    public async Task SubmitAsync_CancelledWhileRunning_CancelsTheJobAndCompletesAfterItEnded()
    {
        var probe = new WorkProbe<int>();
        var cleanup = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(probe.SlowToUnwind(cleanup.Task, job => job));
        using var cts = new CancellationTokenSource();

        Task<int> submitted = pool.SubmitAsync(1, cts.Token).AsTask();
        await probe.Started(1).Within();
        cts.Cancel();
        await Task.Yield();
        submitted.IsCompleted.Should().BeFalse("the job is still unwinding");

        cleanup.TrySetResult();
        await submitted.ShouldThrowAsync<OperationCanceledException>();
        probe.Executing.Should().Be(0);
    }

    [Fact]
    public async Task SubmitAsync_ManyConcurrentRequests_ShareThePoolWideBound()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, _) =>
            {
                await Task.Yield();
                return job * 2;
            }),
            new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 8 });

        Task<IReadOnlyList<JobResult<int, int>>> batch = pool.RunAsync(Enumerable.Range(0, 200));
        int[] values = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => pool.SubmitAsync(i).AsTask())).Within();
        await batch.Within();

        values.Should().Equal(Enumerable.Range(0, 300).Select(i => i * 2));
        probe.Peak.Should().BeLessThanOrEqualTo(2);
        pool.GetStatistics().PeakWorkers.Should().BeLessThanOrEqualTo(2);
    }

    [Fact]
    public async Task SubmitAsync_AlreadyCancelledToken_ReturnsCancelledTaskAndStartsNothing()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job));
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        ValueTask<int> submitted = pool.SubmitAsync(1, cts.Token);

        submitted.IsCanceled.Should().BeTrue();
        probe.Calls.Should().Be(0);
    }

    [Fact]
    public async Task SubmitAsync_AfterDispose_ThrowsObjectDisposedException()
    {
        var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
        await pool.DisposeAsync();

        ((Action)(() => _ = pool.SubmitAsync(1).AsTask())).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public async Task DisposeAsync_SubmissionsRunningQueuedAndInLine_EachEndsBeforeDisposeReturns()
    {
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 1 });
        ValueTask<int> running = pool.SubmitAsync(0);
        await probe.Started(0).Within();
        ValueTask<int> queued = pool.SubmitAsync(1);
        ValueTask<int> inLine = pool.SubmitAsync(2);
        await TestExtensions.UntilAsync(() => pool.WaitingForRoom == 1).Within();

        await pool.DisposeAsync().AsTask().Within();

        running.IsCanceled.Should().BeTrue("the running job saw its token cancelled by the disposal");
        queued.IsCanceled.Should().BeTrue("the queued job never started");
        inLine.IsCanceled.Should().BeTrue("the job waiting in line never entered the queue");
        foreach (ValueTask<int> submitted in new[] { running, queued, inLine })
        {
            (await submitted.AsTask().ShouldThrowAsync<OperationCanceledException>()).Message.Should().Contain("because the pool was disposed");
        }

        probe.StartedJobs.Should().Equal(0);
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
    }

    [Fact]
    public async Task DisposeAsync_SubmittedJobIgnoresCancellationAndSucceeds_TheCallerGetsItsValueAndDisposeReturns()
    {
        var started = TestExtensions.NewGate();
        var canceled = TestExtensions.NewGate();
        var release = TestExtensions.NewGate();
        var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                token.Register(() => canceled.TrySetResult());
                started.TrySetResult();
                await release.Task;
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1 });
        ValueTask<int> submitted = pool.SubmitAsync(5);
        await started.Task.Within();

        Task disposed = pool.DisposeAsync().AsTask();
        await canceled.Task.Within();
        disposed.IsCompleted.Should().BeFalse("the job still runs");
        release.TrySetResult();

        await disposed.Within();
        (await submitted.Within()).Should().Be(5, "the job finished despite the cancellation: its value wins");
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
    }

    [Fact]
    public async Task SubmitAsync_ManyCallersOnASmallPool_EachGetsItsOwnValueInItsOwnContext()
    {
        var seen = new AsyncLocal<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                await Task.Yield();
                return job * 1000 + seen.Value;
            },
            new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 2 });

        int[] values = await Task.WhenAll(Enumerable.Range(1, 200).Select(caller => Task.Run(async () =>
        {
            seen.Value = caller;
            return await pool.SubmitAsync(caller);
        }))).Within();

        values.Should().Equal(Enumerable.Range(1, 200).Select(caller => caller * 1000 + caller));
        pool.GetStatistics().Succeeded.Should().Be(200);
    }
}
