using System.Runtime.CompilerServices;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Runs;

/// <summary>
/// How a submission ends when its caller or the pool cancels it: with its job's own outcome if the job ended anyway,
/// with the cancellation, or with the shutdown-timeout error; and what it leaves behind once it has ended.
/// </summary>
/// <remarks>Shutdown timeouts run on a fake clock that only the test moves.</remarks>
public sealed class SubmissionPathTests : PoolTest
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan Tick = TimeSpan.FromTicks(1);

    private sealed class JobException() : Exception("the job failed");

    private sealed record Parcel(int Id);

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

    [Fact]
    public async Task SubmitAsync_ContinuationOfTheCallersAwait_NeverRunsOnTheWorkerThatCompletedIt()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1 });

        // Run inline on the pool's only worker, this continuation would block it, and job 2 could never start.
        async Task<bool> SubmitAgainAfter(ValueTask<int> first)
        {
            await first.ConfigureAwait(false);
            // Blocks on purpose: the thread it blocks must not be the pool's worker.
            return pool.SubmitAsync(2).AsTask().Wait(TestExtensions.HangLimit);
        }

        ValueTask<int> first = pool.SubmitAsync(1);
        await probe.Started(1).Within();
        Task<bool> next = SubmitAgainAfter(first);
        probe.ReleaseAll();

        (await next.Within()).Should().BeTrue("job 2 ran while the first submission's continuation waited for it");
    }

    [Fact]
    public async Task SubmitAsync_EndedOnALongLivedToken_ItsJobIsCollectableWhileThePoolAndTheTokenLive()
    {
        using var longLived = new CancellationTokenSource();
        await using var pool = new BoundedWorkerPool<Parcel, int>((parcel, _) => ValueTask.FromResult(parcel.Id));

        WeakReference job = await SubmitAndDropAsync(pool, longLived.Token);

        (await Reachability.CollectUntilAsync(() => !job.IsAlive)).Should().BeTrue(
            "the submission has ended, so neither the caller's long-lived token nor the pool's may still hold it");
        longLived.IsCancellationRequested.Should().BeFalse();
    }

    [Fact]
    public async Task SubmitAsync_CancelledByItsCaller_ItsJobIsCollectableWhileThePoolLives()
    {
        var started = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<Parcel, int>(async (parcel, token) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, token);
            return parcel.Id;
        });

        WeakReference job = await CancelAndDropAsync(pool, started.Task);

        (await Reachability.CollectUntilAsync(() => !job.IsAlive)).Should().BeTrue(
            "the cancelled submission has ended, so the pool's own disposal token may no longer hold it");
    }

    /// <summary>A clock that runs a hook, once, the first time the pool reads the time on one given thread.</summary>
    private sealed class HookedClock : TimeProvider
    {
        public int Thread;
        public Action? Hook;

        public override long GetTimestamp()
        {
            if (Environment.CurrentManagedThreadId == Volatile.Read(ref Thread))
            {
                Interlocked.Exchange(ref Hook, null)?.Invoke();
            }

            return base.GetTimestamp();
        }
    }

    [Fact]
    public async Task SubmitAsync_CallerCancelsOnceItsJobStartedButBeforeTheCallLinkedToItsToken_ReturnsACancelledTaskInsteadOfThrowing()
    {
        // The caller's token is cancelled after SubmitAsync checked it and after its job started and registered a throwing
        // callback, but before the call registered on the token: the call stops its run then. The clock's hook holds the
        // caller's thread just there (as it starts a second worker, between writing the job and linking to the token)
        // until the job has done both.
        var clock = new HookedClock();
        var firstJob = TestExtensions.NewGate();
        var secondStarted = TestExtensions.NewGate();
        using var caller = new CancellationTokenSource();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                if (job == 1)
                {
                    await firstJob.Task;
                    return job;
                }

                token.Register(static () => throw new JobException());
                caller.Cancel();
                secondStarted.SetResult();
                await Task.Delay(Timeout.Infinite, token);
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 2, TimeProvider = clock });

        Task<int> first = pool.SubmitAsync(1).AsTask();
        Volatile.Write(ref clock.Hook, () =>
        {
            firstJob.SetResult();
            secondStarted.Task.Wait(TestExtensions.HangLimit).Should().BeTrue("the first worker takes the second job once the first ends");
        });
        Volatile.Write(ref clock.Thread, Environment.CurrentManagedThreadId);

        Task<int>? second = null;
        Action submit = () => second = pool.SubmitAsync(2, caller.Token).AsTask();
        submit.Should().NotThrow("SubmitAsync reports a cancellation through the task it returns");

        clock.Hook.Should().BeNull("the hook ran inside SubmitAsync");
        (await first.Within()).Should().Be(1);
        var canceled = await second!.ShouldThrowAsync<OperationCanceledException>();
        canceled.CancellationToken.Should().Be(caller.Token);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> SubmitAndDropAsync(BoundedWorkerPool<Parcel, int> pool, CancellationToken token)
    {
        var parcel = new Parcel(5);
        (await pool.SubmitAsync(parcel, token).Within()).Should().Be(5);
        return new WeakReference(parcel);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> CancelAndDropAsync(BoundedWorkerPool<Parcel, int> pool, Task started)
    {
        var parcel = new Parcel(6);
        using var cts = new CancellationTokenSource();
        Task<int> submitted = pool.SubmitAsync(parcel, cts.Token).AsTask();
        await started.Within();
        await cts.CancelAsync();
        await submitted.ShouldThrowAsync<OperationCanceledException>();
        return new WeakReference(parcel);
    }
}
