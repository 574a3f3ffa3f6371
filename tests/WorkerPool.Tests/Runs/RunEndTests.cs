using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Runs;

/// <summary>
/// How a run reports its end: the token its cancellation carries, which failure is logged as stopping it, what a run
/// that never started leaves, and the jobs a source that ignored the shutdown timeout hands out after the run ended.
/// </summary>
public sealed class RunEndTests : PoolTest
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    private sealed class JobException(int job) : Exception($"job {job} failed");

    private static IEnumerable<CapturingLoggerFactory.LogEntry> StoppedOnFirstError(CapturingLoggerFactory logs) =>
        logs.Entries.Where(entry => entry.EventId.Name == "RunStoppedOnFirstError");

    /// <summary>A job that waits for its token, and then fails with an exception of its own instead of unwinding.</summary>
    private static async ValueTask<int> FailOnceCancelled(int job, CancellationToken token)
    {
        await Task.WhenAny(Task.Delay(Timeout.Infinite, token));
        throw new JobException(job);
    }

    [Fact]
    public async Task RunAsync_CancelledByDisposal_TheExceptionCarriesTheRunsCancelledToken()
    {
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job));

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0]);
        await probe.Started(0).Within();
        await pool.DisposeAsync().AsTask().Within();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.CancellationToken.IsCancellationRequested.Should().BeTrue("the run's token, cancelled by the disposal, is the one that cancelled it");
    }

    [Fact]
    public async Task RunAsync_JobFailsAfterItsCallerCancelledInStopOnFirstError_TheFailureIsAnOutcomeAndNotLoggedAsStoppingTheRun()
    {
        var started = TestExtensions.NewGate();
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, token) =>
            {
                started.TrySetResult();
                return FailOnceCancelled(job, token);
            },
            new WorkerPoolOptions { ErrorMode = ErrorMode.StopOnFirstError },
            logs);
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0], cts.Token);
        await started.Task.Within();
        cts.Cancel();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Results.Should().ContainSingle().Which.Status.Should().Be(JobStatus.Failed);
        StoppedOnFirstError(logs).Should().BeEmpty("the run was already cancelled when its job failed");
    }

    [Fact]
    public async Task RunAsync_SecondJobFailsWhileTheFirstFailureStopsTheRun_OnlyTheFirstIsLoggedAndThrown()
    {
        var started = new[] { TestExtensions.NewGate(), TestExtensions.NewGate() };
        var failFirst = TestExtensions.NewGate();
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                started[job].TrySetResult();
                if (job == 0)
                {
                    await failFirst.Task;
                    throw new JobException(job);
                }

                // Fails, rather than unwinds, once the first failure has cancelled the run.
                return await FailOnceCancelled(job, token);
            },
            new WorkerPoolOptions { MaxWorkers = 2, ErrorMode = ErrorMode.StopOnFirstError },
            logs);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1]);
        await Task.WhenAll(started.Select(gate => gate.Task)).Within();
        failFirst.TrySetResult();

        (await run.ShouldThrowAsync<JobException>()).Message.Should().Be("job 0 failed");
        StoppedOnFirstError(logs).Should().ContainSingle()
            .Which.State.Should().Contain(new KeyValuePair<string, object?>("JobIndex", 0L));
    }

    [Fact]
    public async Task RunAsync_AsyncSourceAndAlreadyCancelledToken_ReturnsACancelledTaskAndStartsNoRun()
    {
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), loggerFactory: logs);
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Sources.RangeAsync(3), cts.Token);

        run.IsCanceled.Should().BeTrue();
        var canceled = await run.ShouldThrowAsync<OperationCanceledException>();
        canceled.Should().NotBeAssignableTo<WorkerPoolCanceledException<int, int>>("nothing started, so no outcome is attached");
        logs.Entries.Should().NotContain(entry => entry.EventId.Name == "RunStarted");
    }

    [Fact]
    public async Task StreamAsync_EnumeratorDisposedWhileAMoveIsPending_ThatMoveThrowsSayingTheEnumeratorWasDisposed()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { Name = "orders" });
        IAsyncEnumerator<JobResult<int, int>> enumerator = pool.StreamAsync([0]).GetAsyncEnumerator();

        Task<bool> move = enumerator.MoveNextAsync().AsTask();
        await probe.Started(0).Within();
        Task disposed = enumerator.DisposeAsync().AsTask();

        var canceled = await move.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Message.Should().Be("The run on pool 'orders' was cancelled because its stream's enumerator was disposed; 1 outcome(s) are attached.");
        await disposed.Within();
    }

    [Fact]
    public async Task RunAsync_SourceYieldsAJobAfterItsRunEndedPastShutdownTimeout_ThatJobIsCountedAsCancelled()
    {
        var clock = new TestClock();
        var stuck = TestExtensions.NewGate();
        var release = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => ValueTask.FromResult(job),
            new WorkerPoolOptions { ShutdownTimeout = ShutdownTimeout, TimeProvider = clock });
        using var cts = new CancellationTokenSource();

        // Yields job 0, then blocks in MoveNext, ignoring the run's cancellation, until the test lets it yield job 1.
        IEnumerable<int> Source()
        {
            yield return 0;
            stuck.TrySetResult();
            release.Task.Wait();
            yield return 1;
        }

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Source(), cts.Token);
        try
        {
            await stuck.Task.Within();
            await TestExtensions.UntilAsync(() => pool.GetStatistics().Succeeded == 1);
            cts.Cancel();
            await clock.TimerSet(ShutdownTimeout).Within();
            clock.Advance(ShutdownTimeout);

            var timeout = await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            timeout.RunningJobs.Should().BeEmpty("the source holds the run, not a job");
            pool.GetStatistics().Canceled.Should().Be(0);
        }
        finally
        {
            release.TrySetResult();
        }

        // Job 1 was pulled after the run had ended: it never starts, and is counted once the stuck producer returns.
        await TestExtensions.UntilAsync(() => pool.GetStatistics().Canceled == 1);
        ExitAudit.Ended(pool.GetStatistics()).Should().Be(2, "each of the two pulled jobs ended exactly once");
    }
}
