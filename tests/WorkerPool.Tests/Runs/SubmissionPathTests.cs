using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Runs;

/// <summary>
/// How a submission ends when its caller or the pool cancels it: with its job's own outcome if the job ended anyway,
/// with the cancellation, or with the shutdown-timeout error.
/// </summary>
/// <remarks>Shutdown timeouts run on a fake clock that only the test moves.</remarks>
public sealed class SubmissionPathTests : PoolTest
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan Tick = TimeSpan.FromTicks(1);

    private sealed class JobException() : Exception("the job failed");

    private static CapturingLoggerFactory.LogEntry RunEnded(CapturingLoggerFactory logs) =>
        logs.Entries.Should().ContainSingle(entry => entry.EventId.Name == "RunEnded").Subject;

    private static KeyValuePair<string, object?> Outcome(string outcome) => new("Outcome", outcome);

    [Fact]
    public async Task SubmitAsync_CancelledWhileItsJobIgnoresCancellationPastShutdownTimeout_FailsWithTheShutdownTimeoutError()
    {
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { ShutdownTimeout = ShutdownTimeout, Name = "stuck-submission", TimeProvider = clock },
            logs);
        using var cts = new CancellationTokenSource();

        Task<int> submitted = pool.SubmitAsync(7, cts.Token).AsTask();
        try
        {
            await probe.Started(7).Within();
            cts.Cancel();
            await clock.TimerSet(ShutdownTimeout).Within();
            clock.Advance(ShutdownTimeout - Tick);
            submitted.IsCompleted.Should().BeFalse("the submission waits for its job until the shutdown timeout has passed");

            clock.Advance(Tick);
            var timeout = await submitted.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();

            timeout.PoolName.Should().Be("stuck-submission");
            timeout.RunningJobs.Should().ContainSingle().Which.Job.Should().Be(7);
            RunEnded(logs).State.Should().Contain(Outcome("ShutdownTimeout"));
        }
        finally
        {
            probe.Release(7);
        }

        await pool.WhenNoWorkersAsync().Within();
        await pool.DisposeAsync().Within();
        pool.GetStatistics().Succeeded.Should().Be(1, "the stuck job returned its value in the end, which nobody reads");
    }

    [Fact]
    public async Task SubmitAsync_CancelledWhileItsJobUnwindsWithinShutdownTimeout_IsCancelledAndLoggedAsCanceled()
    {
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        var cleanup = TestExtensions.NewGate();
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.SlowToUnwind(cleanup.Task, job => job),
            new WorkerPoolOptions { ShutdownTimeout = ShutdownTimeout, TimeProvider = clock },
            logs);
        using var cts = new CancellationTokenSource();

        Task<int> submitted = pool.SubmitAsync(3, cts.Token).AsTask();
        await probe.Started(3).Within();
        cts.Cancel();
        await clock.TimerSet(ShutdownTimeout).Within();
        cleanup.TrySetResult();

        var canceled = await submitted.ShouldThrowAsync<OperationCanceledException>();
        canceled.CancellationToken.Should().Be(cts.Token);
        submitted.IsCanceled.Should().BeTrue();
        RunEnded(logs).State.Should().Contain(Outcome("Canceled"));
    }

    [Fact]
    public async Task SubmitAsync_CancelledWhileItsJobIgnoresCancellationAndFinishes_ReturnsTheJobsValue()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.GatedIgnoringCancellation(job => job * 10));
        using var cts = new CancellationTokenSource();

        Task<int> submitted = pool.SubmitAsync(4, cts.Token).AsTask();
        await probe.Started(4).Within();
        cts.Cancel();
        probe.Release(4);

        (await submitted.Within()).Should().Be(40, "the job ended with a value despite the cancellation, and its outcome wins");
    }

    [Fact]
    public async Task SubmitAsync_JobFailsWhileUnwindingFromTheDisposal_FaultsWithTheJobsExceptionAndDisposalReturns()
    {
        var failure = new JobException();
        var started = TestExtensions.NewGate();
        var cleanup = TestExtensions.NewGate();
        var pool = new BoundedWorkerPool<int, int>(async (_, token) =>
        {
            started.TrySetResult();
            await Task.WhenAny(Task.Delay(Timeout.Infinite, token));
            await cleanup.Task;
            throw failure;
        });

        Task<int> submitted = pool.SubmitAsync(1).AsTask();
        await started.Task.Within();
        Task disposed = pool.DisposeAsync().AsTask();
        disposed.IsCompleted.Should().BeFalse("the job is still unwinding");
        cleanup.TrySetResult();

        await disposed.Within();
        (await submitted.ShouldThrowAsync<JobException>()).Should().BeSameAs(failure);
        submitted.IsFaulted.Should().BeTrue("the job ended with its own exception, not a cancellation");
    }

    [Fact]
    public async Task DisposeAsync_TwoConcurrentCallsWhileASubmissionUnwinds_BothReturnOnceItHasEnded()
    {
        var probe = new WorkProbe<int>();
        var cleanup = TestExtensions.NewGate();
        var pool = new BoundedWorkerPool<int, int>(probe.SlowToUnwind(cleanup.Task, job => job));

        Task<int> submitted = pool.SubmitAsync(2).AsTask();
        await probe.Started(2).Within();
        Task first = pool.DisposeAsync().AsTask();
        Task second = pool.DisposeAsync().AsTask();
        first.IsCompleted.Should().BeFalse("the job is still unwinding");
        second.IsCompleted.Should().BeFalse("a concurrent call shares the one disposal");
        cleanup.TrySetResult();

        await Task.WhenAll(first, second).Within();
        await submitted.ShouldThrowAsync<OperationCanceledException>();
        submitted.IsCanceled.Should().BeTrue();
        probe.Executing.Should().Be(0);
    }

    [Fact]
    public async Task SubmitAsync_CallerCancelsAfterItsJobStoppedTheRunOnFirstError_FaultsWithTheJobsException()
    {
        var failure = new JobException();
        using var cts = new CancellationTokenSource();

        // The caller cancels at the worst moment: the job has failed and stopped its run, and its outcome is not yet
        // published. The submission then ends by its cancellation's finish, which must still report the root cause.
        var logger = new HookLoggerFactory("RunStoppedOnFirstError") { Hook = cts.Cancel };
        await using var pool = new BoundedWorkerPool<int, int>(
            async (_, _) =>
            {
                await Task.Yield();
                throw failure;
            },
            new WorkerPoolOptions { ErrorMode = ErrorMode.StopOnFirstError },
            logger);

        Task<int> submitted = pool.SubmitAsync(1, cts.Token).AsTask();

        (await submitted.ShouldThrowAsync<JobException>()).Should().BeSameAs(failure);
        logger.Hook.Should().BeNull("the caller cancelled inside the pool's RunStoppedOnFirstError");
    }
}
