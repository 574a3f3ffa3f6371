using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Runs;

/// <summary>
/// How a run reports its end: the token its cancellation carries, which failure is logged as stopping it, and what a run
/// that never started leaves.
/// </summary>
public sealed class RunEndTests : PoolTest
{
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
}
