using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using WorkerPool.Testing;
using WorkerPool.Tests.SharedPool;
using WorkerPool.Tests.Support;
using NestedPool = WorkerPool.BoundedWorkerPool<System.Func<System.Threading.CancellationToken, System.Threading.Tasks.ValueTask<int>>, int>;

namespace WorkerPool.Tests.Faults;

/// <summary>
/// Faults from outside the pool's own code: a job's unreadable ValueTask, a throwing metrics listener or logging
/// provider, a source that fails twice, a job that waits on its own pool, a source that ignores cancellation. None of
/// them may kill a worker, invent an outcome, hide the root cause or hang the pool.
/// </summary>
public sealed class FaultTests : PoolTest
{
    private const int Jobs = 30;

    public static TheoryData<PoolCall> Calls() => [PoolCall.RunAsync, PoolCall.StreamAsync, PoolCall.SubmitAsync];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public Task RunAsync_JobReturnsAValueTaskWhoseGetStatusThrows_ThatJobFailsAndTheRunCompletes(int maxWorkers) =>
        IsolatedAsync(nameof(RunAsync_JobReturnsAValueTaskWhoseGetStatusThrows_ThatJobFailsAndTheRunCompletes), async name =>
        {
            var hostile = new HostileValueTaskSource();
            var pool = new BoundedWorkerPool<int, int>(
                (job, _) => job == 2 ? hostile.AsValueTask() : ValueTask.FromResult(job * 10),
                new WorkerPoolOptions { MaxWorkers = maxWorkers, Name = name });
            try
            {
                IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, 6)).WithinLimit();

                results.Should().HaveCount(6);
                results[2].Status.Should().Be(JobStatus.Failed, "no outcome may be invented for a job whose ValueTask cannot be read");
                results[2].Error.Should().BeSameAs(hostile.Error);
                results.Where(r => r.Index != 2).Should().OnlyContain(r => r.IsSuccess && r.Value == r.Job * 10);
                pool.GetStatistics().RunningJobs.Should().Be(0);
                await WorkerPoolLeakCheck.VerifyNoneAsync(name, TimeSpan.FromSeconds(5));
                pool.GetStatistics().ActiveWorkers.Should().Be(0);
                await pool.DisposeAsync().WithinLimit();
            }
            finally
            {
                await Bounded.DisposeQuietlyAsync(pool);
            }
        });

    [Fact]
    public Task SubmitAsync_JobReturnsAValueTaskWhoseGetStatusThrows_ThrowsThatExceptionAndThePoolGoesOn() =>
        IsolatedAsync(nameof(SubmitAsync_JobReturnsAValueTaskWhoseGetStatusThrows_ThrowsThatExceptionAndThePoolGoesOn), async name =>
        {
            var hostile = new HostileValueTaskSource();
            var pool = new BoundedWorkerPool<int, int>(
                (job, _) => job == 2 ? hostile.AsValueTask() : ValueTask.FromResult(job * 10),
                new WorkerPoolOptions { MaxWorkers = 1, Name = name });
            try
            {
                (await pool.SubmitAsync(2).AsTask().CaughtWithinLimitAsync()).Should().BeSameAs(hostile.Error);
                (await pool.SubmitAsync(3).WithinLimit()).Should().Be(30, "the only worker survived the hostile job");
                await pool.DisposeAsync().WithinLimit();
            }
            finally
            {
                await Bounded.DisposeQuietlyAsync(pool);
            }
        });

    [Theory]
    [MemberData(nameof(Calls))]
    public Task AnyCall_MeterListenerCallbackThrows_EveryOutcomeIsTrueAndNoWorkerDies(PoolCall call) =>
        IsolatedAsync(nameof(AnyCall_MeterListenerCallbackThrows_EveryOutcomeIsTrueAndNoWorkerDies), async name =>
        {
            using MeterListener listener = StartThrowingMeterListener();
            var pool = new BoundedWorkerPool<int, int>(SometimesFailing, new WorkerPoolOptions { MaxWorkers = 2, Name = name });
            try
            {
                List<Outcome> outcomes = await CallAllAsync(pool, call, Enumerable.Range(0, Jobs)).WithinLimit();

                ShouldBeTrue(outcomes);
                await WorkerPoolLeakCheck.VerifyNoneAsync(name, TimeSpan.FromSeconds(5));
                pool.GetStatistics().ActiveWorkers.Should().Be(0);
                await pool.DisposeAsync().WithinLimit();
            }
            finally
            {
                await Bounded.DisposeQuietlyAsync(pool);
            }
        });

    [Fact]
    public Task RunAsync_MeterListenerCallbackThrowsInStopOnFirstError_ThrowsTheJobsException() =>
        IsolatedAsync(nameof(RunAsync_MeterListenerCallbackThrowsInStopOnFirstError_ThrowsTheJobsException), async name =>
        {
            using MeterListener listener = StartThrowingMeterListener();
            var failure = new JobException(3);
            var pool = new BoundedWorkerPool<int, int>(
                (job, _) => job == 3 ? throw failure : ValueTask.FromResult(job),
                new WorkerPoolOptions { MaxWorkers = 1, ErrorMode = ErrorMode.StopOnFirstError, Name = name });
            try
            {
                (await pool.RunAsync(Enumerable.Range(0, 10)).CaughtWithinLimitAsync()).Should().BeSameAs(failure);
                await pool.DisposeAsync().WithinLimit();
            }
            finally
            {
                await Bounded.DisposeQuietlyAsync(pool);
            }
        });

    [Theory]
    [MemberData(nameof(Calls))]
    public async Task AnyCall_LoggerThrowsOnEveryCall_EveryOutcomeIsTrue(PoolCall call)
    {
        var logs = new ThrowingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>(SometimesFailing, new WorkerPoolOptions { MaxWorkers = 2 }, logs);
        try
        {
            List<Outcome> outcomes = await CallAllAsync(pool, call, Enumerable.Range(0, Jobs)).WithinLimit();

            ShouldBeTrue(outcomes);
            logs.Calls.Should().BePositive("the pool logs, and the provider throws");
            await pool.DisposeAsync().WithinLimit();
        }
        finally
        {
            await Bounded.DisposeQuietlyAsync(pool);
        }
    }

    [Theory]
    [InlineData(PoolCall.RunAsync)]
    [InlineData(PoolCall.StreamAsync)]
    public async Task AnyCall_LoggerThrowsOnEveryCallInStopOnFirstError_ThrowsTheJobsException(PoolCall call)
    {
        var failure = new JobException(3);
        var pool = new BoundedWorkerPool<int, int>(
            (job, _) => job == 3 ? throw failure : ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 1, ErrorMode = ErrorMode.StopOnFirstError },
            new ThrowingLoggerFactory());
        try
        {
            (await CaughtAsync(() => CallAllAsync(pool, call, Enumerable.Range(0, 10)))).Should().BeSameAs(failure);
            await pool.DisposeAsync().WithinLimit();
        }
        finally
        {
            await Bounded.DisposeQuietlyAsync(pool);
        }
    }

    [Fact]
    public async Task RunAsync_LoggerThrowsOnEveryCallAndTheSourceFails_ThrowsTheSourceException()
    {
        var error = new InvalidDataException("bad record");
        var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), loggerFactory: new ThrowingLoggerFactory());
        try
        {
            (await CaughtAsync(() => pool.RunAsync(Sources.ThrowingAfter(3, error)))).Should().BeSameAs(error);
            await pool.DisposeAsync().WithinLimit();
        }
        finally
        {
            await Bounded.DisposeQuietlyAsync(pool);
        }
    }

    [Fact]
    public async Task DisposeAsync_LoggerThrowsWithWorkInFlight_ReturnsAndCancelsTheRuns()
    {
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 2 }, new ThrowingLoggerFactory());
        try
        {
            Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1]);
            await Task.WhenAll(probe.Started(0), probe.Started(1)).WithinLimit();

            (await CaughtAsync(async () => await pool.DisposeAsync())).Should().BeNull("disposal must not fail because the provider did");

            (await run.CaughtWithinLimitAsync()).Should().BeOfType<WorkerPoolCanceledException<int, int>>("disposal cancels the runs in flight");
            probe.Executing.Should().Be(0);
        }
        finally
        {
            probe.ReleaseAll();
            await Bounded.DisposeQuietlyAsync(pool);
        }
    }

    [Theory]
    [InlineData(ErrorMode.Collect)]
    [InlineData(ErrorMode.StopOnFirstError)]
    public async Task RunAsync_SourceMoveNextThrowsThenItsDisposeThrows_ThrowsTheMoveNextError(ErrorMode mode)
    {
        var (moveNextError, disposeError) = SourceErrors();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { ErrorMode = mode });

        Exception? thrown = await pool.RunAsync(new FailingSource(3, moveNextError, disposeError)).CaughtWithinLimitAsync();

        thrown.Should().BeSameAs(moveNextError, "the root cause wins over the cleanup error that followed it");
    }

    [Theory]
    [InlineData(ErrorMode.Collect)]
    [InlineData(ErrorMode.StopOnFirstError)]
    public async Task StreamAsync_SourceMoveNextThrowsThenItsDisposeThrows_ThrowsTheMoveNextError(ErrorMode mode)
    {
        var (moveNextError, disposeError) = SourceErrors();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { ErrorMode = mode });

        Exception? thrown = await pool.StreamAsync(new FailingSource(3, moveNextError, disposeError)).CollectAsync().CaughtWithinLimitAsync();

        thrown.Should().BeSameAs(moveNextError, "the root cause wins over the cleanup error that followed it");
    }

    [Theory]
    [InlineData(ErrorMode.Collect)]
    [InlineData(ErrorMode.StopOnFirstError)]
    public async Task RunAsync_AsyncSourceMoveNextThrowsThenItsDisposeThrows_ThrowsTheMoveNextError(ErrorMode mode)
    {
        var (moveNextError, disposeError) = SourceErrors();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { ErrorMode = mode });

        Exception? thrown = await pool.RunAsync(new FailingAsyncSource(3, moveNextError, disposeError)).CaughtWithinLimitAsync();

        thrown.Should().BeSameAs(moveNextError);
    }

    [Theory]
    [InlineData(ErrorMode.Collect)]
    [InlineData(ErrorMode.StopOnFirstError)]
    public async Task StreamAsync_AsyncSourceMoveNextThrowsThenItsDisposeThrows_ThrowsTheMoveNextError(ErrorMode mode)
    {
        var (moveNextError, disposeError) = SourceErrors();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { ErrorMode = mode });

        Exception? thrown = await pool.StreamAsync(new FailingAsyncSource(3, moveNextError, disposeError)).CollectAsync().CaughtWithinLimitAsync();

        thrown.Should().BeSameAs(moveNextError);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunAsync_SourceDisposeThrowsAfterMoveNextThrew_LogsTheDisposeErrorAsSourceDisposeFailedAtWarning(bool asyncSource)
    {
        var (moveNextError, disposeError) = SourceErrors();
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), loggerFactory: logs);

        Task<IReadOnlyList<JobResult<int, int>>> run = asyncSource
            ? pool.RunAsync(new FailingAsyncSource(3, moveNextError, disposeError))
            : pool.RunAsync(new FailingSource(3, moveNextError, disposeError));
        (await run.CaughtWithinLimitAsync()).Should().BeSameAs(moveNextError);

        logs.Entries.Should().ContainSingle(e => e.EventId.Name == "SourceDisposeFailed")
            .Which.Should().Match<CapturingLoggerFactory.LogEntry>(e => e.Level == LogLevel.Warning && e.Exception == disposeError);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task SubmitAsync_EveryWorkerInAJobThatAwaitsANestedSubmit_Completes(int maxWorkers)
    {
        var pool = new NestedPool((job, token) => job(token), new WorkerPoolOptions { MaxWorkers = maxWorkers });
        try
        {
            var allInside = new Arrivals(maxWorkers);
            Func<CancellationToken, ValueTask<int>> Outer(int outer) => async token =>
            {
                await allInside.ArriveAndWaitAsync();
                return 1 + await pool.SubmitAsync(_ => ValueTask.FromResult(outer * 10), token);
            };

            IReadOnlyList<JobResult<Func<CancellationToken, ValueTask<int>>, int>> results =
                await pool.RunAsync(Enumerable.Range(0, maxWorkers).Select(Outer)).WithinLimit();

            results.Select(r => r.Value).Should().Equal(Enumerable.Range(0, maxWorkers).Select(outer => 1 + (outer * 10)));
        }
        finally
        {
            await Bounded.DisposeQuietlyAsync(pool);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task RunAsync_EveryWorkerInAJobThatAwaitsANestedRun_Completes(int maxWorkers)
    {
        var pool = new NestedPool((job, token) => job(token), new WorkerPoolOptions { MaxWorkers = maxWorkers });
        try
        {
            var allInside = new Arrivals(maxWorkers);
            Func<CancellationToken, ValueTask<int>> Outer(int outer) => async token =>
            {
                await allInside.ArriveAndWaitAsync();
                var nested = await pool.RunAsync(Enumerable.Range(1, 3).Select(Constant), token);
                return (outer * 100) + nested.Sum(r => r.Value);
            };

            IReadOnlyList<JobResult<Func<CancellationToken, ValueTask<int>>, int>> results =
                await pool.RunAsync(Enumerable.Range(0, maxWorkers).Select(Outer)).WithinLimit();

            results.Select(r => r.Value).Should().Equal(Enumerable.Range(0, maxWorkers).Select(outer => (outer * 100) + 6));
        }
        finally
        {
            await Bounded.DisposeQuietlyAsync(pool);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task StreamAsync_EveryWorkerInAJobThatEnumeratesANestedStream_Completes(int maxWorkers)
    {
        var pool = new NestedPool((job, token) => job(token), new WorkerPoolOptions { MaxWorkers = maxWorkers });
        try
        {
            var allInside = new Arrivals(maxWorkers);
            Func<CancellationToken, ValueTask<int>> Outer(int outer) => async token =>
            {
                await allInside.ArriveAndWaitAsync();
                int sum = outer * 100;
                await foreach (JobResult<Func<CancellationToken, ValueTask<int>>, int> result in pool.StreamAsync(Enumerable.Range(1, 3).Select(Constant), token))
                {
                    sum += result.Value;
                }

                return sum;
            };

            IReadOnlyList<JobResult<Func<CancellationToken, ValueTask<int>>, int>> results =
                await pool.RunAsync(Enumerable.Range(0, maxWorkers).Select(Outer)).WithinLimit();

            results.Select(r => r.Value).Should().Equal(Enumerable.Range(0, maxWorkers).Select(outer => (outer * 100) + 6));
        }
        finally
        {
            await Bounded.DisposeQuietlyAsync(pool);
        }
    }

    [Fact]
    public async Task SubmitAsync_RecursiveCrawlerOnOneWorker_Completes()
    {
        const int Depth = 3;
        var pool = new NestedPool((job, token) => job(token), new WorkerPoolOptions { MaxWorkers = 1 });
        try
        {
            Func<CancellationToken, ValueTask<int>> Crawl(int depth) => async token =>
            {
                if (depth == Depth)
                {
                    return 1;
                }

                Task<int> left = pool.SubmitAsync(Crawl(depth + 1), token).AsTask();
                Task<int> right = pool.SubmitAsync(Crawl(depth + 1), token).AsTask();
                return (await left) + (await right);
            };

            (await pool.SubmitAsync(Crawl(0)).WithinLimit()).Should().Be(1 << Depth, "every leaf is reached and counted once");
        }
        finally
        {
            await Bounded.DisposeQuietlyAsync(pool);
        }
    }

    [Fact]
    public async Task RunAsync_SyncSourceBlocksPastTheShutdownTimeout_ExceptionNamesTheSource()
    {
        TimeSpan shutdownTimeout = TimeSpan.FromSeconds(5);
        var clock = new TestClock();
        using var unblock = new ManualResetEventSlim();
        var blocked = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = shutdownTimeout, Name = "blocked-producer", TimeProvider = clock });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Blocking(), cts.Token);
        try
        {
            await blocked.Task.WithinLimit();
            cts.Cancel();
            await clock.TimerSet(shutdownTimeout).WithinLimit();
            clock.Advance(shutdownTimeout - TimeSpan.FromTicks(1));
            run.IsCompleted.Should().BeFalse("the run waits for its blocked source until the shutdown timeout has passed");
            clock.Advance(TimeSpan.FromTicks(1));

            Exception? thrown = await run.CaughtWithinLimitAsync();

            var timeout = thrown.Should().BeOfType<WorkerPoolShutdownTimeoutException>().Subject;
            timeout.Message.Should().ContainEquivalentOf("source", "it was the source, not a job, that ignored cancellation")
                .And.NotContain("0 job(s)", "no job ignored cancellation");
        }
        finally
        {
            unblock.Set();
        }

        // Ignores cancellation: MoveNext blocks until the test lets it go.
        IEnumerable<int> Blocking()
        {
            yield return 0;
            blocked.TrySetResult();
            unblock.Wait();
        }
    }

    /// <summary>
    /// Runs a scenario whose pool may be left broken (a dead worker that stays counted as live). Once the scenario has
    /// ended, its pool is unreachable: collecting it removes its workers from the process-wide leak check, so that
    /// the failure stays with this test and is not blamed on the next one. A faulted worker task left unobserved is
    /// finalised here too, and fails this test's own check.
    /// </summary>
    private static async Task IsolatedAsync(string poolName, Func<string, Task> scenario)
    {
        try
        {
            await scenario(poolName);
        }
        finally
        {
            await Reachability.CollectUntilAsync(() => WorkerPoolDiagnostics.GetLiveWorkers(poolName).Count == 0);
        }
    }

    private static MeterListener StartThrowingMeterListener()
    {
        var listener = new MeterListener
        {
            InstrumentPublished = static (instrument, listener) =>
            {
                if (instrument.Meter.Name == "WorkerPool")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        // On .NET 8, Dispose leaves a listener subscribed to its instruments unless MeasurementsCompleted is set.
        listener.MeasurementsCompleted = static (_, _) => { };
        listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => throw new InvalidOperationException("the metrics listener failed"));
        listener.SetMeasurementEventCallback<int>(static (_, _, _, _) => throw new InvalidOperationException("the metrics listener failed"));
        listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => throw new InvalidOperationException("the metrics listener failed"));
        listener.Start();
        return listener;
    }

    /// <summary>Every third job fails, some synchronously and some asynchronously; the others return ten times the job.</summary>
    private static ValueTask<int> SometimesFailing(int job, CancellationToken token)
    {
        if (job % 6 == 0)
        {
            throw new JobException(job);
        }

        return job % 3 == 0 ? FailLaterAsync(job) : ValueTask.FromResult(job * 10);

        static async ValueTask<int> FailLaterAsync(int job)
        {
            await Task.Yield();
            throw new JobException(job);
        }
    }

    private static void ShouldBeTrue(List<Outcome> outcomes)
    {
        outcomes.Select(o => o.Job).Should().BeEquivalentTo(Enumerable.Range(0, Jobs), "every job has exactly one outcome");
        foreach (Outcome outcome in outcomes)
        {
            if (outcome.Job % 3 == 0)
            {
                outcome.Status.Should().Be(JobStatus.Failed, "job {0} threw", outcome.Job);
                outcome.Error.Should().BeOfType<JobException>().Which.Job.Should().Be(outcome.Job);
            }
            else
            {
                outcome.Status.Should().Be(JobStatus.Succeeded, "job {0} returned", outcome.Job);
                outcome.Value.Should().Be(outcome.Job * 10);
            }
        }
    }

    /// <summary>Hands every job to the pool the way <paramref name="call"/> says, and returns one outcome per job.</summary>
    private static async Task<List<Outcome>> CallAllAsync(BoundedWorkerPool<int, int> pool, PoolCall call, IEnumerable<int> jobs)
    {
        var outcomes = new List<Outcome>();
        switch (call)
        {
            case PoolCall.RunAsync:
                outcomes.AddRange((await pool.RunAsync(jobs)).Select(r => new Outcome(r.Job, r.Status, r.Value, r.Error)));
                break;
            case PoolCall.StreamAsync:
                await foreach (JobResult<int, int> r in pool.StreamAsync(jobs))
                {
                    outcomes.Add(new Outcome(r.Job, r.Status, r.Value, r.Error));
                }

                break;
            default:
                int[] all = jobs.ToArray();
                Task<int>[] submitted = all.Select(job => pool.SubmitAsync(job).AsTask()).ToArray();
                await ((Task)Task.WhenAll(submitted)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                for (int i = 0; i < all.Length; i++)
                {
                    outcomes.Add(submitted[i].IsCompletedSuccessfully
                        ? new Outcome(all[i], JobStatus.Succeeded, submitted[i].Result, null)
                        : new Outcome(all[i], JobStatus.Failed, 0, submitted[i].Exception!.InnerException));
                }

                break;
        }

        return outcomes;
    }

    private static async Task<Exception?> CaughtAsync(Func<Task> action)
    {
        try
        {
            await action().WithinLimit();
            return null;
        }
        catch (Exception exception)
        {
            return exception;
        }
    }

    private static (Exception MoveNextError, Exception DisposeError) SourceErrors() =>
        (new InvalidDataException("bad record"), new IOException("the file could not be closed"));

    private static Func<CancellationToken, ValueTask<int>> Constant(int value) => _ => ValueTask.FromResult(value);

    private sealed record Outcome(int Job, JobStatus Status, int Value, Exception? Error);

    private sealed class JobException(int job) : Exception($"job {job} failed")
    {
        public int Job { get; } = job;
    }

    /// <summary>Completes for everyone once <c>count</c> callers have arrived: here, once every worker is inside an outer job.</summary>
    private sealed class Arrivals(int count)
    {
        private readonly TaskCompletionSource _all = TestExtensions.NewGate();
        private int _arrived;

        public Task ArriveAndWaitAsync()
        {
            if (Interlocked.Increment(ref _arrived) == count)
            {
                _all.TrySetResult();
            }

            return _all.Task;
        }
    }
}
