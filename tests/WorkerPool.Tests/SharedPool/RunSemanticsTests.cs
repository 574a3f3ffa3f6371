using System.Diagnostics;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.SharedPool;

/// <summary>
/// How runs that share a pool end and make room: cancellation against failure, a job's own cancellation, queue slots
/// and started jobs, and jobs that block their worker synchronously.
/// </summary>
public sealed class RunSemanticsTests : PoolTest
{
    [Fact]
    public async Task RunAsync_JobFailsAfterTheCallerCancelled_ThrowsCanceledWithThatFailureAmongTheOutcomes()
    {
        var aborted = new InvalidOperationException("aborted");
        TaskCompletionSource[] started = [TestExtensions.NewGate(), TestExtensions.NewGate()];
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                started[job].TrySetResult();
                try
                {
                    await Task.Delay(Timeout.Infinite, token);
                }
                catch (OperationCanceledException) when (job == 0)
                {
                    throw aborted;
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 2, ErrorMode = ErrorMode.StopOnFirstError });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1], cts.Token);
        await Task.WhenAll(started.Select(gate => gate.Task)).WithinLimit();
        cts.Cancel();

        Exception? thrown = await run.CaughtWithinLimitAsync();
        var canceled = thrown.Should().BeOfType<WorkerPoolCanceledException<int, int>>(
            "the caller cancelled first: a failure that follows is an outcome of the cancelled run, not its cause").Subject;
        canceled.Results.Should().HaveCount(2);
        canceled.Results[0].Status.Should().Be(JobStatus.Failed);
        canceled.Results[0].Error.Should().BeSameAs(aborted);
        canceled.Results[1].Status.Should().Be(JobStatus.Canceled);
    }

    [Fact]
    public async Task RunAsync_JobThrowsItsOwnCancellationInStopOnFirstError_TaskIsFaultedWithThatException()
    {
        var own = new OperationCanceledException("the job gave up for reasons of its own");
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                await Task.Yield();
                return job == 1 ? throw own : job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, ErrorMode = ErrorMode.StopOnFirstError });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1, 2]);
        await ((Task)run).WithinLimit().ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);

        run.IsCompleted.Should().BeTrue();
        run.IsFaulted.Should().BeTrue("nothing was cancelled: the job's own cancellation is a failure, and the run ends with it");
        run.Exception!.InnerException.Should().BeSameAs(own);
    }

    [Theory]
    [InlineData(ErrorMode.Collect)]
    [InlineData(ErrorMode.StopOnFirstError)]
    public async Task SubmitAsync_JobThrowsItsOwnCancellation_TaskIsFaultedWithThatException(ErrorMode mode)
    {
        var own = new OperationCanceledException("the job gave up for reasons of its own");
        await using var pool = new BoundedWorkerPool<int, int>(
            async (_, _) =>
            {
                await Task.Yield();
                throw own;
            },
            new WorkerPoolOptions { ErrorMode = mode });

        Task<int> submitted = pool.SubmitAsync(1).AsTask();
        await ((Task)submitted).WithinLimit().ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);

        submitted.IsCompleted.Should().BeTrue();
        submitted.IsFaulted.Should().BeTrue("nothing was cancelled: the job's own cancellation is a failure");
        submitted.Exception!.InnerException.Should().BeSameAs(own);
    }

    [Fact]
    public async Task RunAsync_SyncSourceThrowsTheCallersCancellation_AlwaysThrowsWorkerPoolCanceledException()
    {
        const int Rounds = 200;
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 2 });
        var wrong = new List<string>();

        for (int round = 0; round < Rounds; round++)
        {
            using var cts = new CancellationTokenSource();
            var watching = TestExtensions.NewGate();
            Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(WatchingCallerToken(watching, cts.Token), cts.Token);
            await watching.Task.WithinLimit();
            if (round % 2 == 0)
            {
                cts.Cancel();
            }
            else
            {
                await cts.CancelAsync();
            }

            Exception? thrown = await run.CaughtWithinLimitAsync();
            if (thrown is not WorkerPoolCanceledException<int, int>)
            {
                wrong.Add($"round {round}: {thrown?.GetType().Name ?? "no exception"}");
            }
        }

        wrong.Should().BeEmpty("the caller's own cancellation, seen first by the source, is still a cancellation of the run");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunAsync_JobObservesTheCallersTokenInsteadOfItsOwn_ItsOutcomeIsCanceled(bool cancelAsync)
    {
        const int Rounds = 20;
        await using var pool = new BoundedWorkerPool<(int Job, CancellationToken CallerToken), int>(
            (job, _) =>
            {
                // Watches the caller's token, captured with the job, and not its own; throws the caller's cancellation.
                if (!job.CallerToken.WaitHandle.WaitOne(Bounded.Limit))
                {
                    throw new TimeoutException("the caller never cancelled");
                }

                throw new OperationCanceledException(job.CallerToken);
            },
            new WorkerPoolOptions { MaxWorkers = 2 });
        var wrong = new List<string>();

        for (int round = 0; round < Rounds; round++)
        {
            using var cts = new CancellationTokenSource();
            Task<IReadOnlyList<JobResult<(int Job, CancellationToken CallerToken), int>>> run = pool.RunAsync([(0, cts.Token), (1, cts.Token)], cts.Token);
            await Bounded.UntilAsync(() => pool.GetStatistics().RunningJobs == 2, "both jobs watch the caller's token");
            if (cancelAsync)
            {
                await cts.CancelAsync();
            }
            else
            {
                cts.Cancel();
            }

            // Both jobs may have ended before the run's own token was cancelled: the run may then return its outcomes
            // instead of throwing. Either way, each outcome must say what happened: the caller cancelled the job.
            Exception? thrown = await run.CaughtWithinLimitAsync();
            IReadOnlyList<JobResult<(int Job, CancellationToken CallerToken), int>> outcomes;
            if (thrown is WorkerPoolCanceledException<(int Job, CancellationToken CallerToken), int> canceled)
            {
                outcomes = canceled.Results;
            }
            else if (thrown is null)
            {
                outcomes = await run;
            }
            else
            {
                wrong.Add($"round {round}: the run threw {thrown.GetType().Name}");
                continue;
            }

            wrong.AddRange(outcomes.Where(r => r.Status != JobStatus.Canceled).Select(r => $"round {round}: job {r.Index} {r.Status}"));
        }

        wrong.Should().BeEmpty("a job stopped by its caller's cancellation was cancelled, whichever token it watched");
    }

    [Fact]
    public async Task RunAsync_FourSyncJobsThatWaitForEachOtherWithQueueCapacityOne_AllFourRunAtOnce()
    {
        const int Jobs = 4;
        long deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * (long)Bounded.Limit.TotalSeconds;
        int arrived = 0;
        var allRunning = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) =>
            {
                if (Interlocked.Increment(ref arrived) == Jobs)
                {
                    allRunning.TrySetResult();
                }

                // Synchronous: the job holds its worker until all four run at once.
                return allRunning.Task.Wait(Remaining(deadline), CancellationToken.None)
                    ? ValueTask.FromResult(job)
                    : throw new TimeoutException($"job {job} never ran beside the other {Jobs - 1}");
            },
            new WorkerPoolOptions { MaxWorkers = Jobs, QueueCapacity = 1 });

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, Jobs)).WaitAsync(Bounded.Limit * 2);

        results.Should().OnlyContain(r => r.IsSuccess, "a running job holds no queue slot, so the one-slot queue never stops the next job from starting");
    }

    [Fact]
    public async Task GetStatistics_SyncJobsRunOneByOne_QueuedJobsNeverCountsTheRunningJob()
    {
        const int Jobs = 5;
        TaskCompletionSource[] started = Enumerable.Range(0, Jobs).Select(_ => TestExtensions.NewGate()).ToArray();
        TaskCompletionSource[] release = Enumerable.Range(0, Jobs).Select(_ => TestExtensions.NewGate()).ToArray();
        var exhausted = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) =>
            {
                started[job].TrySetResult();
                return release[job].Task.Wait(Bounded.Limit, CancellationToken.None) ? ValueTask.FromResult(job) : throw new TimeoutException($"job {job} was never released");
            },
            new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = Jobs });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Exhausting(Jobs, exhausted));
        var queuedWhileBlocked = new List<int>();
        try
        {
            for (int job = 0; job < Jobs; job++)
            {
                await started[job].Task.WithinLimit();
                if (job == 0)
                {
                    // The source is exhausted only once its last job is queued.
                    await exhausted.Task.WithinLimit();
                }

                queuedWhileBlocked.Add(pool.GetStatistics().QueuedJobs);
                release[job].TrySetResult();
            }
        }
        finally
        {
            Array.ForEach(release, gate => gate.TrySetResult());
        }

        await run.WithinLimit();
        queuedWhileBlocked.Should().Equal([4, 3, 2, 1, 0], "QueuedJobs counts the jobs still waiting, never the one running");
    }

    [Fact]
    public async Task SubmitAsync_StoppedStreamsJobIgnoresCancellation_TheStreamsQueuedJobsNoLongerTakeRoom()
    {
        const int Slow = 0;
        const int Quick = 1;
        const int Parked = 2;
        const int Other = 1000;
        var slowStarted = TestExtensions.NewGate();
        var slowRelease = TestExtensions.NewGate();
        var parkedStarted = TestExtensions.NewGate();
        var breaking = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                switch (job)
                {
                    case Slow:
                        // Ignores its token: slow to stop.
                        slowStarted.TrySetResult();
                        await slowRelease.Task;
                        return job;
                    case Quick:
                    case Other:
                        return job;
                    default:
                        if (job == Parked)
                        {
                            parkedStarted.TrySetResult();
                        }

                        await Task.Delay(Timeout.Infinite, token);
                        return job;
                }
            },
            new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 2 });

        // The consumer's break waits for the slow job, so it runs on a task of its own.
        Task consumer = Task.Run(async () =>
        {
            await foreach (JobResult<int, int> result in pool.StreamAsync(Enumerable.Range(0, 100)))
            {
                if (result.Index == Quick)
                {
                    // One worker is in the slow job, the other in the parked one, and two more of the stream's jobs fill the queue.
                    await Bounded.UntilAsync(
                        () => slowStarted.Task.IsCompleted && parkedStarted.Task.IsCompleted && pool.GetStatistics().QueuedJobs == 2,
                        "the stream's jobs fill both workers and the queue");
                    breaking.TrySetResult();
                    break;
                }
            }
        });

        try
        {
            await breaking.Task.WithinLimit();

            int other = await pool.SubmitAsync(Other).WithinLimit();

            other.Should().Be(Other, "the stopped stream's queued jobs free their room at once, and its parked job frees a worker");
        }
        finally
        {
            slowRelease.TrySetResult();
            await consumer.WithinLimit();
        }
    }

    [Fact]
    public async Task StreamAsync_EnumeratorDisposedWhileMoveNextIsPending_CancelsTheRunAndReturnsOnceItsWorkStopped()
    {
        var probe = new WorkProbe<int>();
        int sawCancellation = 0;
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, token) =>
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, token);
                }
                finally
                {
                    if (token.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref sawCancellation);
                    }
                }

                return job;
            }),
            new WorkerPoolOptions { MaxWorkers = 2 });

        IAsyncEnumerator<JobResult<int, int>> enumerator = pool.StreamAsync(Enumerable.Range(0, 2)).GetAsyncEnumerator();
        Task<bool> move = enumerator.MoveNextAsync().AsTask();
        try
        {
            await Task.WhenAll(probe.Started(0), probe.Started(1)).WithinLimit();
            move.IsCompleted.Should().BeFalse("both jobs are parked");

            Task disposed = DisposeEnumeratorAsync(enumerator);
            Task<int> executingWhenDisposed = disposed.ReadWhenDone(() => probe.Executing);

            Exception? thrown = await disposed.CaughtWithinLimitAsync();
            thrown.Should().BeNull("disposing an enumerator whose MoveNextAsync is pending stops the run instead of throwing");
            (await executingWhenDisposed).Should().Be(0, "disposal returns only once the run's work has stopped");
            Volatile.Read(ref sawCancellation).Should().Be(2, "both parked jobs see their token cancelled");
            (await move.CaughtWithinLimitAsync()).Should().BeAssignableTo<OperationCanceledException>();
        }
        finally
        {
            // A pool that refused the disposal still holds the run: its own disposal ends it, and with it the pending move.
            await Bounded.DisposeQuietlyAsync(pool);
            await ((Task)move).WaitAsync(Bounded.Limit).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
            _ = move.Exception;
        }

        static async Task DisposeEnumeratorAsync(IAsyncEnumerator<JobResult<int, int>> enumerator) => await enumerator.DisposeAsync();
    }

    [Fact]
    public async Task RunAsync_LongSyncJobWaitsForTheJobAfterIt_CompletesWhileTheOtherWorkerIsIdle()
    {
        const int Jobs = 400;
        int[] longJobs = [100, 160, 220, 280, 340];
        Dictionary<int, TaskCompletionSource> nextStarted = longJobs.ToDictionary(job => job, _ => TestExtensions.NewGate());
        var exhausted = TestExtensions.NewGate();
        long deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * (long)Bounded.Limit.TotalSeconds;
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) =>
            {
                if (job < 2)
                {
                    // Both workers wait here until every job is queued, so that the rest are taken in batches.
                    return HoldUntilAsync(exhausted.Task, job);
                }

                if (nextStarted.TryGetValue(job - 1, out TaskCompletionSource? gate))
                {
                    gate.TrySetResult();
                }

                if (nextStarted.TryGetValue(job, out TaskCompletionSource? next) && !next.Task.Wait(Remaining(deadline), CancellationToken.None))
                {
                    throw new TimeoutException($"job {job + 1} never started while job {job} waited for it");
                }

                return ValueTask.FromResult(job);
            },
            new WorkerPoolOptions { MaxWorkers = 2 });

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Exhausting(Jobs, exhausted)).WaitAsync(Bounded.Limit * 2);

        results.Where(r => !r.IsSuccess).Should().BeEmpty("a job held behind a blocked synchronous job is run by the idle worker");
    }

    /// <remarks>With batches, the other worker takes the jobs left in the blocked worker's batch once the queue is empty.</remarks>
    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public async Task RunAsync_LongSyncJobWaitsForAllOtherJobs_Completes(int workerBatchSize)
    {
        const int Jobs = 200;
        const int Long = 100;
        int completed = 0;
        var othersDone = TestExtensions.NewGate();
        var exhausted = TestExtensions.NewGate();
        long deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * (long)Bounded.Limit.TotalSeconds;
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) =>
            {
                if (job == Long)
                {
                    return othersDone.Task.Wait(Remaining(deadline), CancellationToken.None)
                        ? ValueTask.FromResult(job)
                        : throw new TimeoutException($"only {Volatile.Read(ref completed)} of the other {Jobs - 1} jobs completed");
                }

                return job < 2 ? CountAsync(job) : Count(job);
            },
            new WorkerPoolOptions { MaxWorkers = 2, WorkerBatchSize = workerBatchSize });

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Exhausting(Jobs, exhausted)).WaitAsync(Bounded.Limit * 2);

        results.Where(r => !r.IsSuccess).Should().BeEmpty();

        async ValueTask<int> CountAsync(int job)
        {
            await exhausted.Task;
            return await Count(job);
        }

        ValueTask<int> Count(int job)
        {
            if (Interlocked.Increment(ref completed) == Jobs - 1)
            {
                othersDone.TrySetResult();
            }

            return ValueTask.FromResult(job);
        }
    }

    /// <summary>0..count-1, then completes <paramref name="exhausted"/>: by then every job has been queued.</summary>
    private static IEnumerable<int> Exhausting(int count, TaskCompletionSource exhausted)
    {
        for (int i = 0; i < count; i++)
        {
            yield return i;
        }

        exhausted.TrySetResult();
    }

    /// <summary>Yields job 0, then blocks until the caller's token is cancelled and throws the caller's cancellation.</summary>
    private static IEnumerable<int> WatchingCallerToken(TaskCompletionSource watching, CancellationToken callerToken)
    {
        yield return 0;
        watching.TrySetResult();
        if (!callerToken.WaitHandle.WaitOne(Bounded.Limit))
        {
            throw new TimeoutException("the caller never cancelled");
        }

        throw new OperationCanceledException(callerToken);
    }

    private static async ValueTask<int> HoldUntilAsync(Task gate, int job)
    {
        await gate;
        return job;
    }

    private static TimeSpan Remaining(long deadline)
    {
        long left = deadline - Stopwatch.GetTimestamp();
        return left <= 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(0, left);
    }
}
