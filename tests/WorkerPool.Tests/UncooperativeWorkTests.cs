using Microsoft.Extensions.Logging;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>Behaviour 7: work that ignores its token is waited for, or, with a ShutdownTimeout, named.</summary>
/// <remarks>
/// The shutdown timeouts run on a fake clock that only the test moves. A test releases its stuck jobs in a finally
/// block: should it fail before the clock passes the timeout, the pool's disposal would otherwise wait for ever.
/// </remarks>
public sealed class UncooperativeWorkTests : PoolTest
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan Tick = TimeSpan.FromTicks(1);

    [Fact]
    public async Task RunAsync_JobIgnoresTokenAndNoShutdownTimeout_RunWaitsForIt()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.GatedIgnoringCancellation(job => job), new WorkerPoolOptions { MaxWorkers = 1 });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1], cts.Token);
        await probe.Started(0).Within();
        cts.Cancel();
        await Task.Yield();
        run.IsCompleted.Should().BeFalse("job 0 is still executing");

        probe.Release(0);
        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();

        probe.Executing.Should().Be(0);
        canceled.Results[0].Status.Should().Be(JobStatus.Succeeded, "it finished its work despite the cancellation");
        canceled.Results[1].Status.Should().Be(JobStatus.Canceled);
        probe.Calls.Should().Be(1);
    }

    [Fact]
    public async Task RunAsync_JobIgnoresTokenPastShutdownTimeout_ThrowsNamingItAndLogsAtError()
    {
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { MaxWorkers = 2, ShutdownTimeout = ShutdownTimeout, Name = "stubborn", TimeProvider = clock },
            logs);
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([7, 8], cts.Token);
        try
        {
            await Task.WhenAll(probe.Started(7), probe.Started(8)).Within();
            probe.Release(8);
            await TestExtensions.UntilAsync(() => pool.GetStatistics().RunningJobs == 1);
            cts.Cancel();
            await clock.TimerSet(ShutdownTimeout).Within();
            clock.Advance(ShutdownTimeout - Tick);
            run.IsCompleted.Should().BeFalse("the run waits for the stuck job until the shutdown timeout has passed");

            clock.Advance(Tick);
            var timeout = await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();

            timeout.PoolName.Should().Be("stubborn");
            RunningJobInfo stuck = timeout.RunningJobs.Should().ContainSingle().Subject;
            stuck.Index.Should().Be(0);
            stuck.Job.Should().Be(7);
            stuck.Elapsed.Should().Be(ShutdownTimeout, "the job started when the clock read zero");
            timeout.Message.Should().Contain("#0");
            logs.Entries.Should().Contain(e => e.Level == LogLevel.Error && e.EventId.Name == "ShutdownTimeoutExceeded"
                && e.State.Contains(new KeyValuePair<string, object?>("ElapsedMs", ShutdownTimeout.TotalMilliseconds)));

            // The stuck job still holds its worker until it actually returns.
            pool.GetStatistics().ActiveWorkers.Should().BeGreaterThanOrEqualTo(1);
            pool.GetStatistics().RunningJobs.Should().Be(1);
        }
        finally
        {
            probe.Release(7);
        }

        await pool.WhenNoWorkersAsync().Within();
        pool.GetStatistics().RunningJobs.Should().Be(0);
        await pool.DisposeAsync().Within();
    }

    [Fact]
    public async Task RunAsync_JobsOnBothWorkersIgnoreTheirTokenPastShutdownTimeout_TheExceptionNamesThemInIndexOrder()
    {
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { MaxWorkers = 2, ShutdownTimeout = ShutdownTimeout, Name = "stubborn-pair", TimeProvider = clock });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1, 2], cts.Token);
        int other;
        try
        {
            await Task.WhenAll(probe.Started(0), probe.Started(1)).Within();

            // The worker of the first slot gets job 2, so that the slots, read in order, hold job 2 before the other one.
            int onFirstSlot = (int)WorkerPoolDiagnostics.GetLiveWorkers("stubborn-pair")
                .Single(worker => worker.WorkerId == 0).RunningJob!.Value.Index;
            other = 1 - onFirstSlot;
            probe.Release(onFirstSlot);
            await probe.Started(2).Within();
            await cts.CancelAsync();
            await clock.TimerSet(ShutdownTimeout).Within();
            clock.Advance(ShutdownTimeout);

            var timeout = await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            timeout.RunningJobs.Select(job => job.Index).Should().Equal(other, 2);
            timeout.Message.Should().Contain($"#{other} running").And.Contain("#2 running");
            timeout.Message.IndexOf($"#{other} running", StringComparison.Ordinal).Should().BeLessThan(
                timeout.Message.IndexOf("#2 running", StringComparison.Ordinal));
        }
        finally
        {
            probe.Release(0);
            probe.Release(1);
            probe.Release(2);
        }

        await pool.WhenNoWorkersAsync().Within();
    }

    [Fact]
    public async Task DisposeAsync_JobIgnoresTokenPastShutdownTimeout_ReturnsAndLogsItAtError()
    {
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = ShutdownTimeout, TimeProvider = clock },
            logs);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([5]);
        try
        {
            await probe.Started(5).Within();
            Task disposed = pool.DisposeAsync().AsTask();

            // The disposal, and the run it cancelled, each wait for the stuck job on a timer of their own.
            await clock.TimerSet(ShutdownTimeout, count: 2).Within();
            clock.Advance(ShutdownTimeout - Tick);
            disposed.IsCompleted.Should().BeFalse("disposal waits for the stuck job until the shutdown timeout has passed");
            run.IsCompleted.Should().BeFalse();
            logs.Entries.Should().NotContain(entry => entry.EventId.Name == "ShutdownTimeoutExceeded");

            clock.Advance(Tick);
            await disposed.Within();
            logs.Entries.Should().Contain(entry => entry.EventId.Name == "ShutdownTimeoutExceeded" && entry.Level == LogLevel.Error
                && entry.State.Any(pair => pair.Key == "JobIndex" && Equals(pair.Value, 0L)));
            pool.GetStatistics().RunningJobs.Should().Be(1, "the stuck job stays visible until it returns");
            var timeout = await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            timeout.RunningJobs.Should().ContainSingle().Which.Job.Should().Be(5);
        }
        finally
        {
            probe.Release(5);
        }

        // A second disposal waits for the released job's worker at most ShutdownTimeout too, and the clock no longer
        // moves: wait for the pool's own signal first, so that it has nothing left to wait for.
        await pool.WhenNoWorkersAsync().Within();
        await pool.DisposeAsync().Within();
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
        probe.Executing.Should().Be(0);
    }

    [Fact]
    public async Task DrainAsync_CancelledWhileAJobIgnoresTokenPastShutdownTimeout_ThrowsNamingIt()
    {
        var (clock, probe, pool) = OneStubbornWorker();
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([5]);
        using var cts = new CancellationTokenSource();
        try
        {
            await probe.Started(5).Within();

            Task drain = pool.DrainAsync(cts.Token);
            drain.IsCompleted.Should().BeFalse("a run is in flight");
            await cts.CancelAsync();

            // The drain, and the run it cancelled, each wait for the stuck job on a timer of their own.
            await clock.TimerSet(ShutdownTimeout, count: 2).Within();
            clock.Advance(ShutdownTimeout - Tick);
            drain.IsCompleted.Should().BeFalse("the drain waits for the stuck job until the shutdown timeout has passed");

            clock.Advance(Tick);
            var timeout = await drain.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            timeout.RunningJobs.Should().ContainSingle().Which.Job.Should().Be(5);
            await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
        }
        finally
        {
            probe.Release(5);
        }

        await pool.WhenNoWorkersAsync().Within();
        await pool.DisposeAsync().Within();
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
        probe.Executing.Should().Be(0);
    }

    [Fact]
    public async Task DrainAndDisposeAsync_AfterARunEndedPastShutdownTimeout_SeeItsStuckJobAndWaitUntilItReturns()
    {
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = ShutdownTimeout, TimeProvider = clock },
            logs);
        using var cts = new CancellationTokenSource();
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([5], cts.Token);
        Task drain;
        Task disposed;
        try
        {
            await probe.Started(5).Within();
            await cts.CancelAsync();
            await clock.TimerSet(ShutdownTimeout).Within();
            clock.Advance(ShutdownTimeout);
            await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();

            // No run is left, but the stuck job's worker is.
            drain = pool.DrainAsync();
            drain.IsCompleted.Should().BeFalse("a worker is still running the stuck job");
            disposed = pool.DisposeAsync().AsTask();
            CapturingLoggerFactory.LogEntry inFlight = logs.Entries.Should().ContainSingle(e => e.EventId.Name == "DisposedWithWorkInFlight").Subject;
            inFlight.State.Should().Contain(new KeyValuePair<string, object?>("RunCount", 0));
            inFlight.State.Should().Contain(new KeyValuePair<string, object?>("RunningJobs", 1));
            disposed.IsCompleted.Should().BeFalse("disposal waits for the stuck job, at most ShutdownTimeout");
        }
        finally
        {
            probe.Release(5);
        }

        await drain.Within();
        await disposed.Within();
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
        probe.Executing.Should().Be(0);
    }

    [Fact]
    public async Task DrainAsync_TokenCancelledWhileAJobOfAnEndedRunIgnoresIt_ThrowsNamingTheJobAfterShutdownTimeout()
    {
        var (clock, probe, pool) = OneStubbornWorker();
        await using var _ = pool;
        using var runCts = new CancellationTokenSource();
        using var drainCts = new CancellationTokenSource();
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([5], runCts.Token);
        try
        {
            await probe.Started(5).Within();
            await runCts.CancelAsync();
            await clock.TimerSet(ShutdownTimeout).Within();
            clock.Advance(ShutdownTimeout);
            await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();

            // No run is left, but the stuck job's worker is: the drain waits for it until its token is cancelled, and
            // then at most ShutdownTimeout.
            Task drain = pool.DrainAsync(drainCts.Token);
            drain.IsCompleted.Should().BeFalse("a worker is still running the stuck job");
            await drainCts.CancelAsync();
            await clock.TimerSet(ShutdownTimeout, count: 2).Within();
            clock.Advance(ShutdownTimeout);

            var timeout = await drain.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            timeout.RunningJobs.Should().ContainSingle().Which.Job.Should().Be(5);
        }
        finally
        {
            probe.Release(5);
        }

        await pool.WhenNoWorkersAsync().Within();
        probe.Executing.Should().Be(0);
    }

    [Fact]
    public async Task StreamAsync_ConsumerBreaksWhileJobIgnoresTokenPastShutdownTimeout_DisposalThrowsNamingIt()
    {
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, _) =>
            {
                if (job == 1)
                {
                    await probe.GatedIgnoringCancellation(j => j)(job, default);
                }

                return job;
            }),
            new WorkerPoolOptions { MaxWorkers = 2, ShutdownTimeout = ShutdownTimeout, PreserveOrder = true, TimeProvider = clock });

        IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync(Enumerable.Range(0, 10)).GetAsyncEnumerator();
        try
        {
            (await stream.MoveNextAsync().Within()).Should().BeTrue();
            await probe.Started(1).Within();

            Task disposed = stream.DisposeAsync().AsTask();
            await clock.TimerSet(ShutdownTimeout).Within();
            Task disposedAgainMeanwhile = stream.DisposeAsync().AsTask();
            clock.Advance(ShutdownTimeout - Tick);
            disposed.IsCompleted.Should().BeFalse("the enumerator's disposal waits for the stuck job until the shutdown timeout has passed");

            clock.Advance(Tick);
            var timeout = await disposed.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            timeout.RunningJobs.Should().ContainSingle().Which.Index.Should().Be(1);

            // A concurrent call, and a later one, end with the same exception.
            (await disposedAgainMeanwhile.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>()).Should().BeSameAs(timeout);
            (await stream.DisposeAsync().AsTask().ShouldThrowAsync<WorkerPoolShutdownTimeoutException>()).Should().BeSameAs(timeout);
        }
        finally
        {
            probe.ReleaseAll();
        }

        await pool.WhenNoWorkersAsync().Within();
    }

    [Fact]
    public async Task StreamAsync_CancelledWhileAJobIgnoresTokenPastShutdownTimeout_TheWaitingMoveThrowsNamingIt()
    {
        var (clock, probe, pool) = OneStubbornWorker();
        await using var _ = pool;
        using var cts = new CancellationTokenSource();

        IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([5, 6], cts.Token).GetAsyncEnumerator();
        try
        {
            Task<bool> move = stream.MoveNextAsync().AsTask();
            await probe.Started(5).Within();
            await cts.CancelAsync();
            await clock.TimerSet(ShutdownTimeout).Within();
            clock.Advance(ShutdownTimeout - Tick);
            move.IsCompleted.Should().BeFalse("the stream waits for the stuck job until the shutdown timeout has passed");

            clock.Advance(Tick);
            var timeout = await move.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            timeout.RunningJobs.Should().ContainSingle().Which.Job.Should().Be(5);
        }
        finally
        {
            probe.ReleaseAll();
        }

        await stream.DisposeAsync().AsTask().Within();
        await pool.WhenNoWorkersAsync().Within();
        probe.StartedJobs.Should().Equal(5);
    }

    [Fact]
    public async Task StreamAsync_JobIgnoresTokenPastShutdownTimeoutAndReturnsAtOnce_EveryJobIsCountedWhenThePoolIsAtRest()
    {
        // The stuck job returns while the run is ending: whichever of the run's end and the stuck job's return comes first,
        // the queued job is counted before the pool comes to rest. Repeated, since the two race.
        for (int attempt = 0; attempt < 50; attempt++)
        {
            var (clock, probe, pool) = OneStubbornWorker();
            using var cts = new CancellationTokenSource();

            IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([5, 6], cts.Token).GetAsyncEnumerator();
            try
            {
                Task<bool> move = stream.MoveNextAsync().AsTask();
                await probe.Started(5).Within();
                await TestExtensions.UntilAsync(() => pool.GetStatistics().QueuedJobs == 1).Within();
                await cts.CancelAsync();
                await clock.TimerSet(ShutdownTimeout).Within();
                clock.Advance(ShutdownTimeout);
                probe.Release(5);

                // The run looks at its work once its wait has timed out: if job 5 returned by then, nothing is stuck and
                // the run ends as cancelled; otherwise it names job 5.
                Exception caught = await move.ShouldThrowAsync<Exception>();
                caught.Should().Match(e => e is WorkerPoolShutdownTimeoutException || e is WorkerPoolCanceledException<int, int>);
                if (caught is WorkerPoolShutdownTimeoutException timedOut)
                {
                    timedOut.RunningJobs.Should().ContainSingle().Which.Job.Should().Be(5);
                }
            }
            finally
            {
                probe.ReleaseAll();
            }

            await pool.WhenNoWorkersAsync().Within();
            WorkerPoolStatistics statistics = pool.GetStatistics();
            ExitAudit.Ended(statistics).Should().Be(2, "the pool is at rest, so both jobs are counted (attempt {0})", attempt);
            statistics.Canceled.Should().Be(1, "job 6 never started");
            await stream.DisposeAsync().AsTask().Within();
            await pool.DisposeAsync().Within();
        }
    }

    [Fact]
    public async Task RunAsync_WorkerHeldByTheLoggerPastShutdownTimeoutWithNoJobRunning_ThrowsSayingNoJobWasRunning()
    {
        // Job 5 fails after its run was cancelled, and the logger holds its worker inside JobFailed: the worker has not
        // left the run when the shutdown timeout passes, though no job of it is executing.
        var (clock, probe, held, pool) = OneWorkerHeldByTheLoggerAfterItsFailingJob();
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([5, 6], cts.Token);
        try
        {
            await probe.Started(5).Within();
            await cts.CancelAsync();
            await clock.TimerSet(ShutdownTimeout).Within();
            probe.Release(5);
            await held.Entered.Task.Within();
            pool.GetStatistics().RunningJobs.Should().Be(0);

            clock.Advance(ShutdownTimeout);
            var timeout = await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            timeout.RunningJobs.Should().BeEmpty();
            timeout.Message.Should().Be(
                "The work of pool 'held' did not stop within the shutdown timeout of 00:00:05, though no job was running and "
                + "no job source was blocked: something outside the jobs held it, such as a logger or a metrics listener that a "
                + "worker called after its job.");
            held.Logger.Written.Should().Contain("WorkHeldPastShutdown").And.NotContain("ShutdownTimeoutExceeded");
        }
        finally
        {
            held.Release.TrySetResult();
            probe.ReleaseAll();
        }

        await pool.WhenNoWorkersAsync().Within();
        WorkerPoolStatistics statistics = pool.GetStatistics();
        statistics.Failed.Should().Be(1);
        statistics.Canceled.Should().Be(1, "job 6 never started");
        await pool.DisposeAsync().Within();
    }

    [Fact]
    public async Task DrainAsync_WorkerHeldByTheLoggerPastShutdownTimeoutWithNoJobRunning_ThrowsSayingNoJobWasRunning()
    {
        var (clock, probe, held, pool) = OneWorkerHeldByTheLoggerAfterItsFailingJob();
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([5, 6], CancellationToken.None);
        try
        {
            await probe.Started(5).Within();
            Task drain = pool.DrainAsync(cts.Token);
            await cts.CancelAsync();

            // The drain's wait for the work to stop, and the cancelled run's own.
            await clock.TimerSet(ShutdownTimeout, count: 2).Within();
            probe.Release(5);
            await held.Entered.Task.Within();

            clock.Advance(ShutdownTimeout);
            var timeout = await drain.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            timeout.RunningJobs.Should().BeEmpty();
            timeout.Message.Should().StartWith("The work of pool 'held' did not stop within the shutdown timeout of 00:00:05, though no job was running and no job source was blocked");

            // Logged by the drain, and maybe by the run's own finish too: its grace may end after the worker is released.
            held.Logger.Written.Should().Contain("WorkHeldPastShutdown");
        }
        finally
        {
            held.Release.TrySetResult();
            probe.ReleaseAll();
        }

        await run.ShouldThrowAsync<Exception>();
        await pool.WhenNoWorkersAsync().Within();
        await pool.DisposeAsync().Within();
    }

    [Fact]
    public async Task RunAsync_SourceBlockedPastShutdownTimeoutReturnsWhileTheRunEnds_ThrowsNamingTheSource()
    {
        // The run's finish times out while the source is blocked; the source returns while the run ends (inside its
        // RunEnded log), before the exception is built. The exception names what held the work when the timeout elapsed.
        var clock = new TestClock();
        var releaseSource = TestExtensions.NewGate();
        var sourceBlocked = TestExtensions.NewGate();
        var logger = new HookLoggerFactory("RunEnded") { Hook = () => releaseSource.TrySetResult() };
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = ShutdownTimeout, Name = "source", TimeProvider = clock },
            logger);
        using var cts = new CancellationTokenSource();

        // Off the test's thread: the run may pull its first job before it returns.
        Task<IReadOnlyList<JobResult<int, int>>> run = Task.Run(() => pool.RunAsync(BlockingSource(sourceBlocked, releaseSource.Task), cts.Token));
        try
        {
            await sourceBlocked.Task.Within();
            await cts.CancelAsync();
            await clock.TimerSet(ShutdownTimeout).Within();
            clock.Advance(ShutdownTimeout);

            var timeout = await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            timeout.RunningJobs.Should().BeEmpty();
            timeout.Message.Should().StartWith("1 job source(s) of pool 'source' ignored cancellation");
            logger.Written.Should().Contain("SourceIgnoredShutdown").And.NotContain("WorkHeldPastShutdown");
        }
        finally
        {
            releaseSource.TrySetResult();
        }

        await pool.WhenNoWorkersAsync().Within();
    }

    /// <summary>Yields nothing: says it is blocked, then ignores cancellation until <paramref name="release"/> completes.</summary>
    private static IEnumerable<int> BlockingSource(TaskCompletionSource blocked, Task release)
    {
        blocked.TrySetResult();
        release.Wait();
        yield break;
    }

    /// <summary>
    /// A pool of one worker, named "held", whose jobs ignore their token until released and then fail; its logger holds
    /// the worker in the first JobFailed until released. ShutdownTimeout on a test clock.
    /// </summary>
    private static (TestClock Clock, WorkProbe<int> Probe, HeldLogger Held, BoundedWorkerPool<int, int> Pool) OneWorkerHeldByTheLoggerAfterItsFailingJob()
    {
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        var held = new HeldLogger(new HookLoggerFactory("JobFailed"), TestExtensions.NewGate(), TestExtensions.NewGate());
        held.Logger.Hook = () =>
        {
            held.Entered.TrySetResult();
            held.Release.Task.Wait();
        };
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation<int>(job => throw new InvalidOperationException($"job {job} failed")),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = ShutdownTimeout, Name = "held", TimeProvider = clock },
            held.Logger);
        return (clock, probe, held, pool);
    }

    [Fact]
    public async Task RunAsync_CancelledWhileAnAsyncSourceWaitsOnTheToken_LogsNoWarningAboutTheSource()
    {
        var clock = new TestClock();
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = ShutdownTimeout, TimeProvider = clock },
            logs);
        (StallingSource source, Task<IReadOnlyList<JobResult<int, int>>> run) = await CancelWhileTheSourceWaitsAsync(pool, honoursToken: true);
        await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        await source.Disposed.Task.Within();
        clock.Advance(ShutdownTimeout);

        logs.Entries.Should().NotContain(e => e.Level >= LogLevel.Warning, "a source that answers its cancellation did nothing wrong");
    }

    [Fact]
    public async Task RunAsync_AsyncSourceIgnoresCancellationPastShutdownTimeoutThenYields_LogsBothAndDisposesIt()
    {
        var clock = new TestClock();
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = ShutdownTimeout, Name = "deaf-source", TimeProvider = clock },
            logs);
        (StallingSource source, Task<IReadOnlyList<JobResult<int, int>>> run) = await CancelWhileTheSourceWaitsAsync(pool, honoursToken: false);
        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Results.Should().BeEmpty();
        await clock.TimerSet(ShutdownTimeout).Within();
        clock.Advance(ShutdownTimeout - Tick);
        logs.Entries.Should().NotContain(e => e.EventId.Name == "SourceIgnoredCancellation", "the source has until ShutdownTimeout to answer");
        clock.Advance(Tick);
        await TestExtensions.UntilAsync(() => logs.Entries.Any(e => e.EventId.Name == "SourceIgnoredCancellation"));

        source.Answer.SetResult(true);
        await source.Disposed.Task.Within();
        await TestExtensions.UntilAsync(() => logs.Entries.Any(e => e.EventId.Name == "SourceYieldedAfterCancellation"));
        logs.Entries.Where(e => e.EventId.Name is "SourceIgnoredCancellation" or "SourceYieldedAfterCancellation")
            .Should().OnlyContain(e => e.Level == LogLevel.Warning && e.Message.Contains("deaf-source"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(Timeout.Infinite)]
    public async Task RunAsync_AsyncSourceAnswersLateWithNoFiniteShutdownTimeout_IsDisposedWithoutAWarning(int shutdownTimeoutMs)
    {
        // ShutdownTimeout 0 gives the source no time at all, and Infinite all the time there is: neither is a deadline it
        // can miss, so only a job yielded after the cancellation is reported.
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = TimeSpan.FromMilliseconds(shutdownTimeoutMs) },
            logs);
        (StallingSource source, Task<IReadOnlyList<JobResult<int, int>>> run) = await CancelWhileTheSourceWaitsAsync(pool, honoursToken: false);
        Exception ended = await run.ShouldThrowAsync<Exception>();
        // With no time at all, the run may also give up before its producer has let the source go.
        ended.Should().Match(e => e is WorkerPoolCanceledException<int, int> || (shutdownTimeoutMs == 0 && e is WorkerPoolShutdownTimeoutException));
        source.Disposed.Task.IsCompleted.Should().BeFalse("the source has not answered yet");
        source.Answer.SetResult(false);

        await source.Disposed.Task.Within();
        logs.Entries.Should().NotContain(e => e.EventId.Name == "SourceIgnoredCancellation" || e.EventId.Name == "SourceYieldedAfterCancellation");
        if (shutdownTimeoutMs == Timeout.Infinite)
        {
            logs.Entries.Should().NotContain(e => e.Level >= LogLevel.Warning);
        }
    }

    [Fact]
    public async Task DisposeAsync_AbandonedSourceStillSilentWithTheDefaultInfiniteShutdownTimeout_ReportsItOnce()
    {
        // No deadline reports such a source, but it holds whatever it awaits for as long as it stays silent: the pool's
        // disposal is the last moment anyone can hear of it. (With ShutdownTimeout 0 the run itself may give up first,
        // naming the source in its WorkerPoolShutdownTimeoutException, so that case is not asserted here.)
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>(
            (job, _) => ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 1, Name = "deaf-at-dispose" },
            logs);
        (StallingSource source, Task<IReadOnlyList<JobResult<int, int>>> run) = await CancelWhileTheSourceWaitsAsync(pool, honoursToken: false);
        await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();

        await pool.DisposeAsync().AsTask().Within();
        await pool.DisposeAsync().AsTask().Within();

        logs.Entries.Where(e => e.EventId.Name == "SourceSilentAtDisposal").Should().ContainSingle()
            .Which.Should().Match<CapturingLoggerFactory.LogEntry>(e => e.Level == LogLevel.Warning && e.Message.Contains("deaf-at-dispose") && e.Message.Contains("run 1"));
        source.Answer.SetResult(false);
        await source.Disposed.Task.Within();
        logs.Entries.Should().NotContain(e => e.EventId.Name == "SourceIgnoredCancellation" || e.EventId.Name == "SourceYieldedAfterCancellation");
    }

    [Fact]
    public async Task DisposeAsync_AbandonedSourceSilentBeforeItsShutdownTimeoutElapsed_ReportsItAtDisposalOnly()
    {
        var clock = new TestClock();
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>(
            (job, _) => ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = ShutdownTimeout, TimeProvider = clock },
            logs);
        (StallingSource source, Task<IReadOnlyList<JobResult<int, int>>> run) = await CancelWhileTheSourceWaitsAsync(pool, honoursToken: false);
        await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        await clock.TimerSet(ShutdownTimeout).Within();

        await pool.DisposeAsync().AsTask().Within();
        clock.Advance(ShutdownTimeout);
        source.Answer.SetResult(false);
        await source.Disposed.Task.Within();

        logs.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => e.EventId.Name)
            .Should().Equal(["SourceSilentAtDisposal"], "a source is reported once: at its deadline or at the disposal, whichever comes first");
    }

    [Fact]
    public async Task DisposeAsync_RightAfterTheCancelOfASourceThatHonoursItsToken_ReportsNothing()
    {
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>(
            (job, _) => ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 1 },
            logs);
        (StallingSource source, Task<IReadOnlyList<JobResult<int, int>>> run) = await CancelWhileTheSourceWaitsAsync(pool, honoursToken: true);
        await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        await pool.DisposeAsync().AsTask().Within();

        await source.Disposed.Task.Within();
        logs.Entries.Should().NotContain(e => e.Level >= LogLevel.Warning, "a source that answers its cancellation did nothing wrong");
    }

    /// <summary>Starts a run over a <see cref="StallingSource"/>, and cancels it once the source has been asked for a job.</summary>
    private static async Task<(StallingSource Source, Task<IReadOnlyList<JobResult<int, int>>> Run)> CancelWhileTheSourceWaitsAsync(
        BoundedWorkerPool<int, int> pool, bool honoursToken)
    {
        var source = new StallingSource(honoursToken);
        using var cts = new CancellationTokenSource();
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source, cts.Token);
        await source.Asked.Task.Within();
        cts.Cancel();
        return (source, run);
    }

    /// <summary>
    /// A source whose first MoveNextAsync waits: on its token if it honours it (and then throws), or until the test
    /// answers. Its gates tell when it was asked and when it was disposed.
    /// </summary>
    private sealed class StallingSource(bool honoursToken) : IAsyncEnumerable<int>, IAsyncEnumerator<int>
    {
        private CancellationToken _token;

        public TaskCompletionSource Asked { get; } = TestExtensions.NewGate();

        public TaskCompletionSource<bool> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Disposed { get; } = TestExtensions.NewGate();

        public int Current => 1;

        public IAsyncEnumerator<int> GetAsyncEnumerator(CancellationToken cancellationToken = default)
        {
            _token = cancellationToken;
            return this;
        }

        public ValueTask<bool> MoveNextAsync()
        {
            Asked.TrySetResult();
            return new ValueTask<bool>(honoursToken ? WaitForTheTokenAsync(_token) : Answer.Task);
        }

        public ValueTask DisposeAsync()
        {
            Disposed.TrySetResult();
            return ValueTask.CompletedTask;
        }

        private static async Task<bool> WaitForTheTokenAsync(CancellationToken token)
        {
            await Task.Delay(Timeout.Infinite, token);
            return false;
        }
    }

    /// <summary>A logger that holds the thread writing its event: entered once it does, until released.</summary>
    private sealed record HeldLogger(HookLoggerFactory Logger, TaskCompletionSource Entered, TaskCompletionSource Release);

    /// <summary>A pool of one worker whose jobs ignore their token until released, with ShutdownTimeout on a test clock.</summary>
    private static (TestClock Clock, WorkProbe<int> Probe, BoundedWorkerPool<int, int> Pool) OneStubbornWorker()
    {
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = ShutdownTimeout, TimeProvider = clock });
        return (clock, probe, pool);
    }
}
