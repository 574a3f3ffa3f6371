using System.Runtime.CompilerServices;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>Behaviour 3: every await observes the run's token: caller, disposal and the run's own failure, linked.</summary>
public sealed class CancellationTests : PoolTest
{
    [Fact]
    public async Task RunAsync_CallerCancelsWhileJobsRun_JobsSeeTheirTokenCancelled()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 2 });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, 2), cts.Token);
        await Task.WhenAll(probe.Started(0), probe.Started(1)).Within();
        cts.Cancel();

        // The gated jobs are never released: only their cancelled token can end them.
        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        probe.Executing.Should().Be(0);
        canceled.Results.Should().HaveCount(2).And.OnlyContain(r => r.Status == JobStatus.Canceled && r.Error is OperationCanceledException);
        canceled.Results.Select(r => r.Error).Should().AllBeOfType<TaskCanceledException>()
            .And.OnlyContain(e => ((TaskCanceledException)e!).CancellationToken.IsCancellationRequested, "each carries the run's cancelled token");
    }

    [Fact]
    public async Task RunAsync_RunCancelledBeforeJobsStart_ThoseJobsNeverStart()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 10 });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, 5), cts.Token);
        await probe.Started(0).Within();
        cts.Cancel();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        probe.StartedJobs.Should().Equal(0);
        canceled.Results.Should().HaveCount(5);
        canceled.Results.Skip(1).Should().OnlyContain(r => r.Status == JobStatus.Canceled && r.Error == null && r.Duration == TimeSpan.Zero);
        pool.GetStatistics().Canceled.Should().Be(5);
    }

    [Fact]
    public async Task RunAsync_AlreadyCancelledToken_ReturnsCancelledTaskAndStartsNothing()
    {
        var probe = new WorkProbe<int>();
        var source = Sources.Counting(10);
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job));
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source, cts.Token);

        run.IsCanceled.Should().BeTrue();
        source.Enumerations.Should().Be(0);
        probe.Calls.Should().Be(0);
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
    }

    [Fact]
    public async Task StreamAsync_AlreadyCancelledToken_ThrowsOnFirstMoveAndStartsNothing()
    {
        var source = Sources.Counting(10);
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Func<Task> enumerate = () => pool.StreamAsync(source, cts.Token).CollectAsync();

        await enumerate.Should().ThrowAsync<OperationCanceledException>();
        source.Enumerations.Should().Be(0);
    }

    [Fact]
    public async Task StreamAsync_WithCancellationTokenCancelled_CancelsTheRun()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 2 });
        using var cts = new CancellationTokenSource();

        Task<List<JobResult<int, int>>> consume = pool.StreamAsync(Enumerable.Range(0, 10)).WithCancellation(cts.Token).CollectAsync();
        await probe.Started(0).Within();
        cts.Cancel();

        var canceled = await consume.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        probe.Executing.Should().Be(0);
        canceled.CancellationToken.Should().Be(cts.Token);
        canceled.Results.Should().HaveCount(10);
    }

    [Fact]
    public async Task RunAsync_JobAwaitsItsToken_TimesOutOnceJobTimeoutHasPassedAndNotBefore()
    {
        TimeSpan jobTimeout = TimeSpan.FromSeconds(10);
        var clock = new TestClock();
        var started = TestExtensions.NewGate<CancellationToken>();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                started.TrySetResult(token);
                await Task.Delay(Timeout.Infinite, token);
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, JobTimeout = jobTimeout, TimeProvider = clock });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0]);
        CancellationToken jobToken = await started.Task.Within();
        await clock.TimerSet(jobTimeout).Within();

        clock.Advance(jobTimeout - TimeSpan.FromTicks(1));
        jobToken.IsCancellationRequested.Should().BeFalse("the job has run for a tick less than its timeout");
        run.IsCompleted.Should().BeFalse();

        clock.Advance(TimeSpan.FromTicks(1));
        jobToken.IsCancellationRequested.Should().BeTrue("the job has now run for exactly its timeout");
        JobResult<int, int> result = (await run.Within()).Single();
        result.Status.Should().Be(JobStatus.TimedOut);
    }

    [Fact]
    public async Task RunAsync_JobTimesOutAndACallbackOnItsTokenThrows_TheTimerIsUnharmedAndTheJobTimesOut()
    {
        // The timer of a job's timeout runs on a thread nobody catches on: an exception that escaped there would end the
        // process. Here the clock's timer runs on the thread that advances it, so it would escape from Advance.
        TimeSpan jobTimeout = TimeSpan.FromSeconds(10);
        var clock = new TestClock();
        TaskCompletionSource<CancellationToken> started = TestExtensions.NewGate<CancellationToken>();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                token.Register(() => throw new InvalidTimeZoneException("the job's callback failed"));
                started.TrySetResult(token);
                await Task.Delay(Timeout.Infinite, token);
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, JobTimeout = jobTimeout, TimeProvider = clock });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1]);
        CancellationToken token = await started.Task.Within();
        await clock.TimerSet(jobTimeout).Within();

        clock.Invoking(c => c.Advance(jobTimeout)).Should().NotThrow();
        token.IsCancellationRequested.Should().BeTrue("the timeout cancels the job's token at once; only its callbacks run elsewhere");
        await clock.TimerSet(jobTimeout, count: 2).Within();
        clock.Advance(jobTimeout);
        IReadOnlyList<JobResult<int, int>> results = await run.Within();
        results.Select(r => r.Status).Should().Equal(JobStatus.TimedOut, JobStatus.TimedOut);
    }

    [Fact]
    public async Task RunAsync_JobFailsWithItsOwnErrorOnceItsTimeoutCancelledIt_FailsWithThatErrorAndTheRunGoesOn()
    {
        // As a database client whose cancelled command throws its own exception rather than an OperationCanceledException:
        // only a cancellation tells the pool that the timeout ended the job.
        TimeSpan jobTimeout = TimeSpan.FromSeconds(10);
        var clock = new TestClock();
        var connectionReset = new IOException("The connection was reset.");
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                if (job == 0)
                {
                    try
                    {
                        await Task.Delay(Timeout.Infinite, token);
                    }
                    catch (OperationCanceledException)
                    {
                        throw connectionReset;
                    }
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, JobTimeout = jobTimeout, TimeProvider = clock });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1]);
        await clock.TimerSet(jobTimeout).Within();
        clock.Advance(jobTimeout);
        IReadOnlyList<JobResult<int, int>> results = await run.Within();

        results[0].Status.Should().Be(JobStatus.Failed);
        results[0].Error.Should().BeSameAs(connectionReset);
        results[1].Value.Should().Be(1);
    }

    [Fact]
    public async Task RunAsync_JobIgnoresItsTimeoutAndReturnsAValue_SucceedsWithIt()
    {
        TimeSpan jobTimeout = TimeSpan.FromSeconds(10);
        var clock = new TestClock();
        TaskCompletionSource<CancellationToken> started = TestExtensions.NewGate<CancellationToken>();
        TaskCompletionSource finish = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                started.TrySetResult(token);
                await finish.Task;
                return job + 1;
            },
            new WorkerPoolOptions { MaxWorkers = 1, JobTimeout = jobTimeout, TimeProvider = clock });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([41]);
        CancellationToken token = await started.Task.Within();
        await clock.TimerSet(jobTimeout).Within();
        clock.Advance(jobTimeout);
        token.IsCancellationRequested.Should().BeTrue();
        finish.SetResult();

        JobResult<int, int> result = (await run.Within()).Single();
        result.Status.Should().Be(JobStatus.Succeeded, "a job that ignores its cancelled token and returns a value returns it");
        result.Value.Should().Be(42);
    }

    [Fact]
    public async Task RunAsync_CallerCancelsThenJobTimeoutPasses_JobIsCanceledNotTimedOut()
    {
        TimeSpan jobTimeout = TimeSpan.FromSeconds(10);
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, token) =>
            {
                await probe.GatedIgnoringCancellation(j => j)(job, default);
                token.ThrowIfCancellationRequested();
                return job;
            }),
            new WorkerPoolOptions { MaxWorkers = 1, JobTimeout = jobTimeout, TimeProvider = clock });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0], cts.Token);
        try
        {
            await probe.Started(0).Within();
            await clock.TimerSet(jobTimeout).Within();
            await cts.CancelAsync();
            clock.Advance(jobTimeout);
        }
        finally
        {
            // The job ignores its token: without its release the pool's disposal would wait for it for ever.
            probe.Release(0);
        }

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Results.Single().Status.Should().Be(JobStatus.Canceled, "the caller's cancellation came first");
    }

    [Fact]
    public async Task RunAsync_JobExceedsJobTimeout_OnlyThatJobTimesOutAndTheRunGoesOn()
    {
        TimeSpan jobTimeout = TimeSpan.FromSeconds(5);
        var clock = new TestClock();
        var logs = new CapturingLoggerFactory();
        var timingOut = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                if (job == 3)
                {
                    timingOut.TrySetResult();
                    await Task.Delay(Timeout.Infinite, token);
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 2, JobTimeout = jobTimeout, ErrorMode = ErrorMode.StopOnFirstError, TimeProvider = clock },
            logs);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, 8));
        await timingOut.Task.Within();
        clock.Advance(jobTimeout);
        IReadOnlyList<JobResult<int, int>> results = await run.Within();

        results.Should().HaveCount(8);
        results[3].Status.Should().Be(JobStatus.TimedOut);
        results[3].Error.Should().BeOfType<TimeoutException>().Which.InnerException.Should().BeAssignableTo<OperationCanceledException>();
        results.Where(r => r.Index != 3).Should().OnlyContain(r => r.IsSuccess);
        pool.GetStatistics().TimedOut.Should().Be(1);
        logs.Entries.Should().Contain(e => e.EventId.Name == "JobTimedOut" && e.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task RunAsync_JobTimeoutSetAndRunCancelled_JobIsCanceledNotTimedOut()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, JobTimeout = TimeSpan.FromHours(1) });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0], cts.Token);
        await probe.Started(0).Within();
        cts.Cancel();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Results.Single().Status.Should().Be(JobStatus.Canceled);
        probe.Executing.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_ManyJobsWithJobTimeout_ReusedTimeoutSourcesDoNotLeakCancellation()
    {
        // Each job completes long before its timeout; a timeout source reused after TryReset must start clean.
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                await Task.Yield();
                token.IsCancellationRequested.Should().BeFalse();
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 2, JobTimeout = TimeSpan.FromMinutes(5) });

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, 2000)).Within();

        results.Should().OnlyContain(r => r.IsSuccess);
    }

    [Fact]
    public async Task RunAsync_AsyncSourceObservesToken_CancellationEndsItsWait()
    {
        var sourceWaiting = TestExtensions.NewGate();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Wrap<int>((job, _) => ValueTask.FromResult(job)));
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Sources.StallingAfterFirstAsync(sourceWaiting), cts.Token);
        await Task.WhenAll(sourceWaiting.Task, probe.Started(0)).Within();
        cts.Cancel();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Results.Should().ContainSingle().Which.IsSuccess.Should().BeTrue();
    }

    [Fact]
    public async Task RunAsync_AsyncSourceThatIgnoresTheTokenCancelsTheCaller_IsAskedForNoMoreJobs()
    {
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
        using var cts = new CancellationTokenSource();
        var pulls = new StrongBox<int>();

        var canceled = await pool.RunAsync(CancellingAtAsync(3, cts, pulls), cts.Token).ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();

        pulls.Value.Should().Be(4, "the run stops asking its source for jobs once it is cancelled");
        canceled.Results.Select(r => r.Index).Should().Equal(0L, 1L, 2L, 3L);
    }

    /// <summary>Yields 0, 1, 2... at once, ignoring any token, and cancels <paramref name="cts"/> as it yields <paramref name="at"/>.</summary>
    private static async IAsyncEnumerable<int> CancellingAtAsync(int at, CancellationTokenSource cts, StrongBox<int> pulls)
    {
        for (int i = 0; ; i++)
        {
            await Task.CompletedTask;
            pulls.Value++;
            if (i == at)
            {
                // Synchronously, so that the pull completes at once: the run is cancelled by the time it has the job.
                cts.Cancel();
            }

            yield return i;
        }
    }

    [Fact]
    public async Task RunAsync_CancelledWithManyParkedJobs_EachJobUnwindsWithOnlyItsOwnException()
    {
        const int Jobs = 100;
        int parked = 0;
        var allParked = TestExtensions.NewGate();
        async Task<int> ParkAsync(int job, CancellationToken token)
        {
            if (Interlocked.Increment(ref parked) == Jobs)
            {
                allParked.TrySetResult();
            }

            await Task.Delay(Timeout.Infinite, token);
            return job;
        }

        await using var pool = new BoundedWorkerPool<int, int>(
            (job, token) => new ValueTask<int>(ParkAsync(job, token)),
            new WorkerPoolOptions { MaxWorkers = Jobs, QueueCapacity = Jobs });
        using var cts = new CancellationTokenSource();
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, Jobs), cts.Token);
        await allParked.Task.Within();

        int thrown = 0;
        void Count(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e)
        {
            if (e.Exception is OperationCanceledException)
            {
                Interlocked.Increment(ref thrown);
            }
        }

        AppDomain.CurrentDomain.FirstChanceException += Count;
        try
        {
            cts.Cancel();
            var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
            canceled.Results.Should().HaveCount(Jobs).And.OnlyContain(r => r.Status == JobStatus.Canceled && r.Error is OperationCanceledException);
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= Count;
        }

        // One throw per job is the job's own (its await of the cancelled delay). The pool adds a few per run (the
        // consumer's cancelled wait, the run's exception), never one more per job.
        Volatile.Read(ref thrown).Should().BeInRange(Jobs, Jobs + 10);
    }

    [Fact]
    public async Task RunAsync_Cancelled_TheRunsExceptionIsThrownOnlyToItsAwaiter()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1 });
        using var cts = new CancellationTokenSource();
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, 1), cts.Token);
        await probe.Started(0).Within();

        // Every throw of a WorkerPoolCanceledException anywhere in the process; the run's is told apart by identity below.
        var thrown = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        void Record(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e)
        {
            if (e.Exception is WorkerPoolCanceledException<int, int>)
            {
                thrown.Enqueue(e.Exception);
            }
        }

        AppDomain.CurrentDomain.FirstChanceException += Record;
        WorkerPoolCanceledException<int, int> canceled;
        try
        {
            cts.Cancel();
            canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= Record;
        }

        run.IsCanceled.Should().BeTrue("a cancelled run's task is Canceled, not Faulted");
        thrown.Count(e => ReferenceEquals(e, canceled)).Should().Be(1, "the pool makes the task Canceled without throwing; only the caller's await throws");
    }
}
