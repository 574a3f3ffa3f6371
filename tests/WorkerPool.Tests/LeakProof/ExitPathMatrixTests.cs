using System.Runtime.CompilerServices;
using WorkerPool.Testing;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.LeakProof;

/// <summary>
/// One test per way a run can end. Each one applies the same three checks (<see cref="ExitAudit"/>): no work call of
/// the run executes when its caller regains control, no worker of the pool is left, and every pulled job is accounted
/// for exactly once.
/// </summary>
public sealed class ExitPathMatrixTests : PoolTest
{
    private sealed class JobException(int job) : Exception($"job {job} failed");

    private sealed class SourceException() : Exception("the source failed");

    /// <summary>Options with a pool name unique to the calling test, so that its leak check blames nobody else.</summary>
    private static WorkerPoolOptions Options(
        int maxWorkers = 2,
        int queueCapacity = 4,
        ErrorMode errorMode = ErrorMode.Collect,
        bool preserveOrder = false,
        TimeSpan? jobTimeout = null,
        TimeSpan? shutdownTimeout = null,
        TimeProvider? timeProvider = null,
        [CallerMemberName] string test = "") => new()
        {
            MaxWorkers = maxWorkers,
            QueueCapacity = queueCapacity,
            ErrorMode = errorMode,
            PreserveOrder = preserveOrder,
            JobTimeout = jobTimeout ?? Timeout.InfiniteTimeSpan,
            ShutdownTimeout = shutdownTimeout ?? Timeout.InfiniteTimeSpan,
            TimeProvider = timeProvider ?? TimeProvider.System,
            Name = "exit-matrix/" + test,
        };

    private static Func<int, CancellationToken, ValueTask<int>> YieldThenReturn(WorkProbe<int> probe) =>
        probe.Wrap<int>(async (job, _) =>
        {
            await Task.Yield();
            return job;
        });

    // ---------------------------------------------------------------------------------------------------------------
    // RunAsync: completion and job failures
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task RunAsync_EveryJobSucceeds_ReturnsOneOutcomePerPulledJob()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(YieldThenReturn(probe), Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(50);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        IReadOnlyList<JobResult<int, int>> results = await run.Within();

        results.Should().OnlyContain(r => r.IsSuccess);
        source.Pulled.Should().Be(50);
        await audit.VerifyAsync(await executingAtExit, source.Pulled, results.Select(r => r.Index));
    }

    [Fact]
    public async Task RunAsync_JobThrowsInCollectMode_FailureIsAnOutcomeAndTheRunGoesOn()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, _) =>
            {
                await Task.Yield();
                return job % 5 == 3 ? throw new JobException(job) : job;
            }),
            Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(30);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        IReadOnlyList<JobResult<int, int>> results = await run.Within();

        results.Where(r => r.Job % 5 == 3).Should().HaveCount(6).And.OnlyContain(r => r.Status == JobStatus.Failed && r.Error is JobException);
        await audit.VerifyAsync(await executingAtExit, source.Pulled, results.Select(r => r.Index));
    }

    [Fact]
    public async Task RunAsync_JobThrowsInStopOnFirstErrorMode_ThrowsTheRootCauseOnceAllWorkStopped()
    {
        var probe = new WorkProbe<int>();
        var failure = new JobException(1);
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, token) =>
            {
                if (job == 1)
                {
                    // Fail only once job 0 holds the other worker, so that a job is running when the run stops.
                    await probe.Started(0);
                    throw failure;
                }

                await Task.Delay(Timeout.Infinite, token);
                return job;
            }),
            Options(errorMode: ErrorMode.StopOnFirstError));
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(50);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);

        (await run.ShouldThrowAsync<JobException>()).Should().BeSameAs(failure);
        await audit.VerifyOutcomesDroppedAsync(await executingAtExit, source.Pulled);
    }

    [Fact]
    public async Task RunAsync_JobThrowsSynchronouslyBeforeItsFirstAwait_IsAFailedOutcome()
    {
        var probe = new WorkProbe<int>();
        Func<int, CancellationToken, ValueTask<int>> others = YieldThenReturn(probe);
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, token) => job == 2 ? throw new JobException(job) : others(job, token),
            Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(10);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        IReadOnlyList<JobResult<int, int>> results = await run.Within();

        results[2].Status.Should().Be(JobStatus.Failed);
        results[2].Error.Should().BeOfType<JobException>();
        results.Count(r => r.IsSuccess).Should().Be(9);
        await audit.VerifyAsync(await executingAtExit, source.Pulled, results.Select(r => r.Index));
    }

    [Fact]
    public async Task RunAsync_JobReturnsACancelledValueTask_IsAFailedOutcomeAndTheRunGoesOn()
    {
        var probe = new WorkProbe<int>();
        Func<int, CancellationToken, ValueTask<int>> others = YieldThenReturn(probe);
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, token) => job == 4 ? ValueTask.FromCanceled<int>(new CancellationToken(canceled: true)) : others(job, token),
            Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(10);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        IReadOnlyList<JobResult<int, int>> results = await run.Within();

        results[4].Status.Should().Be(JobStatus.Failed, "the run was not cancelled: the job cancelled itself");
        results[4].Error.Should().BeAssignableTo<OperationCanceledException>();
        await audit.VerifyAsync(await executingAtExit, source.Pulled, results.Select(r => r.Index));
    }

    [Fact]
    public async Task RunAsync_JobTimeoutFires_OnlyThatJobTimesOutAndTheRunCompletes()
    {
        TimeSpan jobTimeout = TimeSpan.FromSeconds(30);
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, token) =>
            {
                if (job == 3)
                {
                    await Task.Delay(Timeout.Infinite, token);
                }

                return job;
            }),
            Options(jobTimeout: jobTimeout, timeProvider: clock));
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(8);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        await probe.Started(3).Within();
        clock.Advance(jobTimeout);
        IReadOnlyList<JobResult<int, int>> results = await run.Within();

        results[3].Status.Should().Be(JobStatus.TimedOut);
        results.Where(r => r.Index != 3).Should().OnlyContain(r => r.IsSuccess);
        await audit.VerifyAsync(await executingAtExit, source.Pulled, results.Select(r => r.Index));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Caller cancellation
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task RunAsync_CallerCancelsWhileTheProducerIsBlockedOnAFullQueue_EveryPulledJobHasAnOutcome()
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
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), Options(maxWorkers: 1, queueCapacity: 1));
        var audit = ExitAudit.Start(pool);
        using var cts = new CancellationTokenSource();

        // Job 0 holds the only worker, job 1 fills the queue, and the producer waits for room with job 2.
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source, cts.Token);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        await Task.WhenAll(probe.Started(0), thirdPull.Task).Within();
        await cts.CancelAsync();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        source.Pulled.Should().Be(3);
        canceled.Results.Should().OnlyContain(r => r.Status == JobStatus.Canceled);
        await audit.VerifyAsync(await executingAtExit, source.Pulled, canceled.Results.Select(r => r.Index));
    }

    [Fact]
    public async Task RunAsync_CallerCancelsWhileJobsRun_EveryPulledJobHasAnOutcome()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), Options(maxWorkers: 3, queueCapacity: 5));
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(100);
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source, cts.Token);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        await Task.WhenAll(probe.Started(0), probe.Started(1), probe.Started(2)).Within();
        await cts.CancelAsync();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Results.Take(3).Should().OnlyContain(r => r.Status == JobStatus.Canceled && r.Error is OperationCanceledException);
        await audit.VerifyAsync(await executingAtExit, source.Pulled, canceled.Results.Select(r => r.Index));
    }

    [Fact]
    public async Task StreamAsync_CallerCancelsWhileTheConsumerIsPausedBetweenItems_YieldedAndAttachedOutcomesCoverEveryPulledJob()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(100);
        using var cts = new CancellationTokenSource();
        var yielded = new List<long>();

        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync(source, cts.Token).GetAsyncEnumerator();
        probe.Release(0);
        (await stream.MoveNextAsync().Within()).Should().BeTrue();
        yielded.Add(stream.Current.Index);

        // The consumer is paused: it does not ask for the next item, and the pool's work goes on without it.
        await Task.WhenAll(probe.Started(1), probe.Started(2)).Within();
        await cts.CancelAsync();

        var canceled = await stream.MoveNextAsync().AsTask().ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        int executingAtExit = probe.Executing;
        await audit.VerifyAsync(executingAtExit, source.Pulled, yielded.Concat(canceled.Results.Select(r => r.Index)));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Source failures
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task RunAsync_SyncSourceThrowsMidway_ThrowsTheSourceExceptionOnceAllWorkStopped()
    {
        var probe = new WorkProbe<int>();
        var error = new SourceException();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), Options(queueCapacity: 10));
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counted(Sources.ThrowingAfter(5, error));

        // The jobs wait for their token: two of them are running when the source fails.
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);

        (await run.ShouldThrowAsync<SourceException>()).Should().BeSameAs(error);
        source.Pulled.Should().Be(5);
        await audit.VerifyOutcomesDroppedAsync(await executingAtExit, source.Pulled);
    }

    [Fact]
    public async Task RunAsync_AsyncSourceThrows_ThrowsTheSourceExceptionOnceAllWorkStopped()
    {
        var probe = new WorkProbe<int>();
        var error = new SourceException();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), Options(queueCapacity: 10));
        var audit = ExitAudit.Start(pool);
        var source = Sources.CountedAsync(Sources.ThrowingAfterAsync(5, error));

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);

        (await run.ShouldThrowAsync<SourceException>()).Should().BeSameAs(error);
        source.Pulled.Should().Be(5);
        await audit.VerifyOutcomesDroppedAsync(await executingAtExit, source.Pulled);
    }

    [Fact]
    public async Task RunAsync_AsyncSourceNeverYieldsAgainAndIgnoresItsToken_CancellationStillEndsTheRun()
    {
        var probe = new WorkProbe<int>();
        var stuck = new StuckAsyncSource(3);
        var source = Sources.CountedAsync(stuck);
        await using var pool = new BoundedWorkerPool<int, int>(YieldThenReturn(probe), Options());
        var audit = ExitAudit.Start(pool);
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source, cts.Token);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        await Task.WhenAll(stuck.Stuck, probe.Started(0), probe.Started(1), probe.Started(2)).Within();
        await cts.CancelAsync();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        stuck.Disposed.Should().BeFalse("its MoveNextAsync is still pending");

        // The run has ended and left no worker behind, although the source is still stuck.
        await audit.VerifyAsync(await executingAtExit, source.Pulled, canceled.Results.Select(r => r.Index));

        // Once its pending call returns, the abandoned source is disposed.
        stuck.Unstick();
        await stuck.WhenDisposed.Within();
    }

    // ---------------------------------------------------------------------------------------------------------------
    // A stream consumer that leaves
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task StreamAsync_ConsumerBreaksOutOfTheLoop_WorkStopsBeforeTheLoopExits()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(100);
        probe.Release(0);
        probe.Release(1);
        probe.Release(2);

        // Jobs 0 to 2 complete; later jobs wait for their token, so two of them are running when the consumer leaves.
        var yielded = new List<long>();
        await foreach (JobResult<int, int> result in pool.StreamAsync(source))
        {
            yielded.Add(result.Index);
            if (yielded.Count == 3)
            {
                await Task.WhenAll(probe.Started(3), probe.Started(4)).Within();
                break;
            }
        }

        int executingAtExit = probe.Executing;
        yielded.Should().BeEquivalentTo([0L, 1L, 2L]);
        await audit.VerifyOutcomesDroppedAsync(executingAtExit, source.Pulled, yielded);
    }

    [Fact]
    public async Task StreamAsync_ConsumerThrowsInsideAwaitForeach_WorkStopsBeforeTheExceptionLeavesTheLoop()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(100);
        probe.Release(0);
        probe.Release(1);
        var yielded = new List<long>();

        async Task ConsumeAsync()
        {
            await foreach (JobResult<int, int> result in pool.StreamAsync(source))
            {
                yielded.Add(result.Index);
                if (yielded.Count == 2)
                {
                    await Task.WhenAll(probe.Started(2), probe.Started(3)).Within();
                    throw new InvalidOperationException("the consumer failed");
                }
            }
        }

        Task consuming = ConsumeAsync();
        Task<int> executingAtExit = consuming.ReadWhenDone(() => probe.Executing);

        (await consuming.ShouldThrowAsync<InvalidOperationException>()).Message.Should().Be("the consumer failed");
        await audit.VerifyOutcomesDroppedAsync(await executingAtExit, source.Pulled, yielded);
    }

    [Fact]
    public async Task StreamAsync_NeverEnumerated_StartsNothingAndLeavesNothing()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(10);

        // Neither a stream that is never enumerated, nor an enumerator disposed before its first MoveNextAsync, starts anything.
        _ = pool.StreamAsync(source);
        await using (pool.StreamAsync(source).GetAsyncEnumerator())
        {
        }

        source.Enumerations.Should().Be(0);
        await audit.VerifyAsync(probe.Executing, source.Pulled, []);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Disposal and concurrent runs
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task DisposeAsync_DuringARun_RunEndsCancelledWithEveryPulledJobsOutcome()
    {
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(100);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        await Task.WhenAll(probe.Started(0), probe.Started(1)).Within();
        await pool.DisposeAsync().Within();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Message.Should().Contain("disposed");
        await audit.VerifyAsync(await executingAtExit, source.Pulled, canceled.Results.Select(r => r.Index));
    }

    [Fact]
    public async Task DisposeAsync_WhileAStreamConsumerIsPaused_ReturnsWithoutItAndTheConsumerThenGetsTheRest()
    {
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(100);
        var yielded = new List<long>();

        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync(source).GetAsyncEnumerator();
        probe.Release(0);
        (await stream.MoveNextAsync().Within()).Should().BeTrue();
        yielded.Add(stream.Current.Index);
        await Task.WhenAll(probe.Started(1), probe.Started(2)).Within();

        await pool.DisposeAsync().Within();
        probe.Executing.Should().Be(0, "disposal returns only once every work call has ended");

        var canceled = await stream.MoveNextAsync().AsTask().ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        int executingAtExit = probe.Executing;
        canceled.Message.Should().Contain("disposed");
        await audit.VerifyAsync(executingAtExit, source.Pulled, yielded.Concat(canceled.Results.Select(r => r.Index)));
    }

    [Fact]
    public async Task RunAsync_OneOfSeveralConcurrentRunsCancelled_ItEndsCleanAndTheOthersFinishUntouched()
    {
        // One probe per run (jobs 0.., 100.., 200..), so that each run's executing count is its own.
        WorkProbe<int>[] probes = [new(), new(), new()];
        Func<int, CancellationToken, ValueTask<int>>[] works = probes.Select(p => p.Gated(job => job)).ToArray();
        await using var pool = new BoundedWorkerPool<int, int>((job, token) => works[job / 100](job, token), Options(maxWorkers: 3, queueCapacity: 30));
        var audit = ExitAudit.Start(pool);
        var victimSource = Sources.Counting(10);
        var firstSource = Sources.Counted(Enumerable.Range(100, 10));
        var secondSource = Sources.Counted(Enumerable.Range(200, 10));
        using var cts = new CancellationTokenSource();

        // The queue is FIFO across runs: let the victim's jobs take every worker first, then queue the others behind them.
        Task<IReadOnlyList<JobResult<int, int>>> victim = pool.RunAsync(victimSource, cts.Token);
        Task<int> victimExecuting = victim.ReadWhenDone(() => probes[0].Executing);
        await Task.WhenAll(probes[0].Started(0), probes[0].Started(1), probes[0].Started(2)).Within();
        Task<IReadOnlyList<JobResult<int, int>>> first = pool.RunAsync(firstSource);
        Task<int> firstExecuting = first.ReadWhenDone(() => probes[1].Executing);
        Task<IReadOnlyList<JobResult<int, int>>> second = pool.RunAsync(secondSource);
        Task<int> secondExecuting = second.ReadWhenDone(() => probes[2].Executing);
        await cts.CancelAsync();
        var canceled = await victim.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();

        probes[1].ReleaseAll();
        probes[2].ReleaseAll();
        IReadOnlyList<JobResult<int, int>> firstResults = await first.Within();
        IReadOnlyList<JobResult<int, int>> secondResults = await second.Within();

        firstResults.Should().HaveCount(10).And.OnlyContain(r => r.IsSuccess);
        secondResults.Should().HaveCount(10).And.OnlyContain(r => r.IsSuccess);
        await audit.VerifyAsync(
            context: null,
            RunExit.WithOutcomes(await victimExecuting, victimSource.Pulled, canceled.Results.Select(r => r.Index)),
            RunExit.WithOutcomes(await firstExecuting, firstSource.Pulled, firstResults.Select(r => r.Index)),
            RunExit.WithOutcomes(await secondExecuting, secondSource.Pulled, secondResults.Select(r => r.Index)));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Work that ignores its token
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task RunAsync_JobIgnoresItsTokenWithoutShutdownTimeout_RunWaitsForItThenEndsClean()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.GatedIgnoringCancellation(job => job), Options(maxWorkers: 1));
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(5);
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source, cts.Token);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        await probe.Started(0).Within();
        await cts.CancelAsync();
        await Task.Yield();
        run.IsCompleted.Should().BeFalse("job 0 ignores its token and is still executing");

        probe.Release(0);
        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Results[0].Status.Should().Be(JobStatus.Succeeded, "it finished its work despite the cancellation");
        await audit.VerifyAsync(await executingAtExit, source.Pulled, canceled.Results.Select(r => r.Index));
    }

    [Fact]
    public async Task RunAsync_JobIgnoresItsTokenPastShutdownTimeout_ExceptionNamesItAndTheLeakCheckPassesOnceItIsReleased()
    {
        TimeSpan shutdownTimeout = TimeSpan.FromSeconds(5);
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            Options(maxWorkers: 1, shutdownTimeout: shutdownTimeout, timeProvider: clock));
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counted(new[] { 7, 8 });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source, cts.Token);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        try
        {
            await probe.Started(7).Within();

            // Job 8 waits in the queue, so that the run's finish counts it as never started when the timeout passes. (The
            // case of a producer still holding it then is the test below.)
            await TestExtensions.UntilAsync(() => pool.GetStatistics().QueuedJobs == 1).Within();
            await cts.CancelAsync();
            await clock.TimerSet(shutdownTimeout).Within();
            clock.Advance(shutdownTimeout);

            var timeout = await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            RunningJobInfo stuck = timeout.RunningJobs.Should().ContainSingle().Subject;
            stuck.Index.Should().Be(0);
            stuck.Job.Should().Be(7);
            (await executingAtExit).Should().Be(1, "the documented exception: exactly the job the exception names is still executing");

            // Until it returns, the leak check names it too.
            var leak = await WorkerPoolLeakCheck.VerifyNoneAsync(pool.Name, TimeSpan.FromMilliseconds(20)).ShouldThrowAsync<WorkerPoolLeakException>();
            leak.Leaks.Should().ContainSingle().Which.RunningJob!.Value.Job.Should().Be(7);
        }
        finally
        {
            probe.Release(7);
        }

        await audit.VerifyAfterReleaseAsync(() => probe.Executing, source.Pulled);
        await pool.DisposeAsync().Within();
    }

    [Fact]
    public async Task RunAsync_JobAndSourceIgnoreTheirTokenPastShutdownTimeout_PoolIsNotAtRestUntilTheSourcesLastJobIsCounted()
    {
        StuckRunEnd ended = await TimeOutWithAJobAndTheSourceStuckAsync();
        BoundedWorkerPool<int, int> pool = ended.Pool;

        // The stuck job returns and its worker ends; the source still holds the run's last job.
        Task atRest;
        try
        {
            ended.Probe.Release(7);
            await TestExtensions.UntilAsync(() => pool.GetStatistics().ActiveWorkers == 0).Within();
            atRest = pool.WhenNoWorkersAsync();
            atRest.IsCompleted.Should().BeFalse("job 8 is still to be counted once the source hands it over");
        }
        finally
        {
            ended.SourceGate.TrySetResult();
        }

        await atRest.Within();
        ended.Source.Pulled.Should().Be(2);
        pool.GetStatistics().Canceled.Should().BeGreaterThanOrEqualTo(1, "job 8 never started, and is counted by the time the pool is at rest");
        await ended.Audit.VerifyAfterReleaseAsync(() => ended.Probe.Executing, ended.Source.Pulled);
        await pool.DisposeAsync().Within();
    }

    [Fact]
    public async Task DisposeAsync_AfterARunEndedPastShutdownTimeoutWithItsSourceStuck_WaitsUntilTheSourcesLastJobIsCounted()
    {
        StuckRunEnd ended = await TimeOutWithAJobAndTheSourceStuckAsync();
        BoundedWorkerPool<int, int> pool = ended.Pool;
        Task disposal;
        try
        {
            ended.Probe.Release(7);
            await TestExtensions.UntilAsync(() => pool.GetStatistics().ActiveWorkers == 0).Within();

            disposal = pool.DisposeAsync().AsTask();
            disposal.IsCompleted.Should().BeFalse("the source still holds a job of the pool's last run");
        }
        finally
        {
            ended.SourceGate.TrySetResult();
        }

        await disposal.Within();
        WorkerPoolStatistics statistics = pool.GetStatistics();
        ended.Source.Pulled.Should().Be(2);
        ExitAudit.Ended(statistics).Should().Be(2, "disposal has returned, so every pulled job is counted");
        statistics.Canceled.Should().BeGreaterThanOrEqualTo(1, "job 8 never started");
    }

    [Fact]
    public async Task DisposeAsync_SourceOfAnEndedRunStillStuckPastShutdownTimeout_ReturnsAndLogsTheSource()
    {
        StuckRunEnd ended = await TimeOutWithAJobAndTheSourceStuckAsync();
        BoundedWorkerPool<int, int> pool = ended.Pool;
        try
        {
            ended.Probe.Release(7);
            await TestExtensions.UntilAsync(() => pool.GetStatistics().ActiveWorkers == 0).Within();
            int loggedByTheRun = ended.Logs.Entries.Count(e => e.EventId.Name == "SourceIgnoredShutdown");

            Task disposal = pool.DisposeAsync().AsTask();
            await ended.Clock.TimerSet(ended.ShutdownTimeout, count: 2).Within();
            ended.Clock.Advance(ended.ShutdownTimeout);
            await disposal.Within();

            ended.Logs.Entries.Count(e => e.EventId.Name == "SourceIgnoredShutdown").Should().Be(
                loggedByTheRun + 1,
                "disposal gave up on the source of the ended run, and says so");
        }
        finally
        {
            ended.SourceGate.TrySetResult();
        }

        await pool.WhenNoWorkersAsync().Within();
        ExitAudit.Ended(pool.GetStatistics()).Should().Be(2);
    }

    /// <summary>
    /// A run of jobs 7 and 8 on one worker, with ShutdownTimeout on a test clock: job 7 ignores its token, and the
    /// source, asked for job 8, blocks in MoveNext until <see cref="StuckRunEnd.SourceGate"/> opens. The caller cancels,
    /// the timeout passes, and the run throws naming job 7 and the source. Job 7 is still held.
    /// </summary>
    private static async Task<StuckRunEnd> TimeOutWithAJobAndTheSourceStuckAsync([CallerMemberName] string test = "")
    {
        TimeSpan shutdownTimeout = TimeSpan.FromSeconds(5);
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            Options(maxWorkers: 1, shutdownTimeout: shutdownTimeout, timeProvider: clock, test: test),
            logs);
        var audit = ExitAudit.Start(pool);
        TaskCompletionSource sourceGate = TestExtensions.NewGate();
        TaskCompletionSource asked = TestExtensions.NewGate();
        var source = Sources.Counted(SevenThenEightAfter(asked, sourceGate.Task));
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source, cts.Token);
        try
        {
            await Task.WhenAll(probe.Started(7), asked.Task).Within();
            await cts.CancelAsync();
            await clock.TimerSet(shutdownTimeout).Within();
            clock.Advance(shutdownTimeout);

            var timeout = await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            timeout.RunningJobs.Should().ContainSingle().Which.Job.Should().Be(7);
            timeout.Message.Should().Contain("1 job source(s)");
            source.Pulled.Should().Be(1);
        }
        catch
        {
            probe.Release(7);
            sourceGate.TrySetResult();
            throw;
        }

        return new StuckRunEnd(pool, audit, probe, sourceGate, source, clock, shutdownTimeout, logs);

        static IEnumerable<int> SevenThenEightAfter(TaskCompletionSource asked, Task gate)
        {
            yield return 7;
            asked.TrySetResult();
            gate.Wait();
            yield return 8;
        }
    }

    private sealed record StuckRunEnd(
        BoundedWorkerPool<int, int> Pool,
        ExitAudit Audit,
        WorkProbe<int> Probe,
        TaskCompletionSource SourceGate,
        CountedSource<int> Source,
        TestClock Clock,
        TimeSpan ShutdownTimeout,
        CapturingLoggerFactory Logs);

    // ---------------------------------------------------------------------------------------------------------------
    // Edge sizes
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task RunAndStream_EmptySource_EndCleanWithNoOutcome()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(YieldThenReturn(probe), Options());
        var audit = ExitAudit.Start(pool);
        var syncSource = Sources.Counting(0);
        var asyncSource = Sources.CountedAsync(Sources.RangeAsync(0));
        var streamSource = Sources.Counting(0);

        Task<IReadOnlyList<JobResult<int, int>>> fromSync = pool.RunAsync(syncSource);
        Task<int> syncExecuting = fromSync.ReadWhenDone(() => probe.Executing);
        (await fromSync.Within()).Should().BeEmpty();
        Task<IReadOnlyList<JobResult<int, int>>> fromAsync = pool.RunAsync(asyncSource);
        Task<int> asyncExecuting = fromAsync.ReadWhenDone(() => probe.Executing);
        (await fromAsync.Within()).Should().BeEmpty();
        (await pool.StreamAsync(streamSource).CollectAsync().Within()).Should().BeEmpty();
        int streamExecuting = probe.Executing;

        pool.GetStatistics().PeakWorkers.Should().Be(0);
        await audit.VerifyAsync(
            context: null,
            RunExit.WithOutcomes(await syncExecuting, syncSource.Pulled, []),
            RunExit.WithOutcomes(await asyncExecuting, asyncSource.Pulled, []),
            RunExit.WithOutcomes(streamExecuting, streamSource.Pulled, []));
    }

    [Fact]
    public async Task RunAsync_OneJob_ReturnsItsOutcome()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(YieldThenReturn(probe), Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counting(1);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        IReadOnlyList<JobResult<int, int>> results = await run.Within();

        results.Should().ContainSingle().Which.IsSuccess.Should().BeTrue();
        await audit.VerifyAsync(await executingAtExit, source.Pulled, results.Select(r => r.Index));
    }

    [Fact]
    public async Task RunAndStream_OneWorkerAndAQueueOfOne_EndCleanWithEveryOutcome()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, _) =>
            {
                await Task.Yield();
                return job % 7 == 6 ? throw new JobException(job) : job;
            }),
            Options(maxWorkers: 1, queueCapacity: 1, preserveOrder: true));
        var audit = ExitAudit.Start(pool);
        var runSource = Sources.Counting(200);
        var streamSource = Sources.Counting(200);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(runSource);
        Task<int> runExecuting = run.ReadWhenDone(() => probe.Executing);
        IReadOnlyList<JobResult<int, int>> results = await run.Within();
        List<JobResult<int, int>> streamed = await pool.StreamAsync(streamSource).CollectAsync().Within();
        int streamExecuting = probe.Executing;

        probe.Peak.Should().Be(1);
        streamed.Select(r => r.Index).Should().BeInAscendingOrder();
        await audit.VerifyAsync(
            context: null,
            RunExit.WithOutcomes(await runExecuting, runSource.Pulled, results.Select(r => r.Index)),
            RunExit.WithOutcomes(streamExecuting, streamSource.Pulled, streamed.Select(r => r.Index)));
    }

    [Fact]
    public async Task RunAsync_NullJobValues_AreCarriedThroughAndAccountedFor()
    {
        // The probe keys jobs by value, so null jobs are counted under a stand-in key.
        const string NullKey = "(null)";
        var probe = new WorkProbe<string>();
        Func<string, CancellationToken, ValueTask<int>> counted = probe.Wrap<int>(async (job, _) =>
        {
            await Task.Yield();
            return job == NullKey ? -1 : job.Length;
        });
        await using var pool = new BoundedWorkerPool<string?, int>((job, token) => counted(job ?? NullKey, token), Options());
        var audit = ExitAudit.Start(pool);
        var source = Sources.Counted(new[] { "a", null, "ccc", null, "eeeee" });

        Task<IReadOnlyList<JobResult<string?, int>>> run = pool.RunAsync(source);
        Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
        IReadOnlyList<JobResult<string?, int>> results = await run.Within();

        results.Select(r => r.Job).Should().Equal("a", null, "ccc", null, "eeeee");
        results.Select(r => r.Value).Should().Equal(1, -1, 3, -1, 5);
        await audit.VerifyAsync(await executingAtExit, source.Pulled, results.Select(r => r.Index));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // SubmitAsync
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task SubmitAsync_Succeeds_ReturnsTheValueAndEndsClean()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(YieldThenReturn(probe), Options());
        var audit = ExitAudit.Start(pool);

        Task<int> submitted = pool.SubmitAsync(42).AsTask();
        Task<int> executingAtExit = submitted.ReadWhenDone(() => probe.Executing);

        (await submitted.Within()).Should().Be(42);
        await audit.VerifyOutcomesDroppedAsync(await executingAtExit, pulled: 1);
    }

    [Fact]
    public async Task SubmitAsync_JobFails_ThrowsItsOwnExceptionAndEndsClean()
    {
        var probe = new WorkProbe<int>();
        var failure = new JobException(3);
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (_, _) =>
            {
                await Task.Yield();
                throw failure;
            }),
            Options());
        var audit = ExitAudit.Start(pool);

        Task<int> submitted = pool.SubmitAsync(3).AsTask();
        Task<int> executingAtExit = submitted.ReadWhenDone(() => probe.Executing);

        (await submitted.ShouldThrowAsync<JobException>()).Should().BeSameAs(failure);
        await audit.VerifyOutcomesDroppedAsync(await executingAtExit, pulled: 1);
    }

    [Fact]
    public async Task SubmitAsync_CancelledBeforeItStarts_JobNeverRunsAndEndsClean()
    {
        // One probe per submission, so that the cancelled one's executing count is its own.
        var busy = new WorkProbe<int>();
        var waiting = new WorkProbe<int>();
        Func<int, CancellationToken, ValueTask<int>> busyWork = busy.Gated(job => job);
        Func<int, CancellationToken, ValueTask<int>> waitingWork = waiting.Gated(job => job);
        await using var pool = new BoundedWorkerPool<int, int>((job, token) => job == 0 ? busyWork(job, token) : waitingWork(job, token), Options(maxWorkers: 1));
        var audit = ExitAudit.Start(pool);
        using var cts = new CancellationTokenSource();

        Task<int> first = pool.SubmitAsync(0).AsTask();
        Task<int> firstExecuting = first.ReadWhenDone(() => busy.Executing);
        await busy.Started(0).Within();
        Task<int> second = pool.SubmitAsync(1, cts.Token).AsTask();
        Task<int> secondExecuting = second.ReadWhenDone(() => waiting.Executing);
        await cts.CancelAsync();

        var canceled = await second.ShouldThrowAsync<OperationCanceledException>();
        canceled.CancellationToken.Should().Be(cts.Token);
        busy.Release(0);
        (await first.Within()).Should().Be(0);
        waiting.Calls.Should().Be(0, "the job was cancelled before a worker was free for it");

        // SubmitAsync's one-job source is internal, so its pull is seen through the outcomes it attaches: none if the
        // cancellation came before the pool took the job, otherwise one that never started. The counters must agree.
        IReadOnlyList<JobResult<int, int>> attached = canceled.InnerException.Should().BeOfType<WorkerPoolCanceledException<int, int>>().Subject.Results;
        attached.Where(r => r.Status != JobStatus.Canceled || r.Error != null).Should().BeEmpty();
        await audit.VerifyAsync(
            context: null,
            RunExit.WithoutOutcomes(await firstExecuting, pulled: 1),
            RunExit.WithOutcomes(await secondExecuting, pulled: attached.Count, attached.Select(r => r.Index)));
    }

    [Fact]
    public async Task SubmitAsync_CancelledWhileRunning_CancelsTheJobAndEndsClean()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), Options());
        var audit = ExitAudit.Start(pool);
        using var cts = new CancellationTokenSource();

        Task<int> submitted = pool.SubmitAsync(5, cts.Token).AsTask();
        Task<int> executingAtExit = submitted.ReadWhenDone(() => probe.Executing);
        await probe.Started(5).Within();
        await cts.CancelAsync();

        await submitted.ShouldThrowAsync<OperationCanceledException>();
        await audit.VerifyOutcomesDroppedAsync(await executingAtExit, pulled: 1);
    }
}
