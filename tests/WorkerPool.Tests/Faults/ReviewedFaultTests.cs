using System.Threading.Tasks.Sources;
using WorkerPool.Tests.Support;
using static WorkerPool.Tests.Support.TestExtensions;

namespace WorkerPool.Tests.Faults;

/// <summary>
/// Faults at the edges of the protocols: a value task that takes the worker's continuation and still throws, a stream
/// disposed while its first MoveNextAsync starts the run, concurrent disposals of one enumerator, and what counts as a
/// job waiting for its own pool.
/// </summary>
public sealed class ReviewedFaultTests : PoolTest
{
    [Fact]
    public async Task RunAsync_ValueTaskTakesTheContinuationThrowsAndCallsItLater_WorkerResumesOnceAndTheJobFails()
    {
        var source = new TakesContinuationThenThrows();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => job == 0 ? new ValueTask<int>(source, 0) : ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 1 });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1, 2]);
        await source.ContinuationTaken.Task.Within();
        source.CallTheContinuationAgain();

        IReadOnlyList<JobResult<int, int>> results = await run.Within();
        results[0].Status.Should().Be(JobStatus.Failed);
        results[0].Error.Should().BeSameAs(source.Error);
        results.Skip(1).Select(r => r.Value).Should().Equal(1, 2);
    }

    [Fact]
    public async Task StreamAsync_DisposedWhileTheFirstMoveNextStartsTheRun_DisposalStopsTheRun()
    {
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 2 });

        for (int round = 0; round < 200; round++)
        {
            IAsyncEnumerator<JobResult<int, int>> enumerator = pool.StreamAsync([1, 2, 3]).GetAsyncEnumerator();
            using var start = new Barrier(2);
            Task<bool> move = Task.Run(async () =>
            {
                start.SignalAndWait();
                return await enumerator.MoveNextAsync();
            });
            start.SignalAndWait();

            await enumerator.DisposeAsync().Within();

            bool yielded = await move.Within().ContinueWith(static t => t.Status == TaskStatus.RanToCompletion && t.Result, TaskScheduler.Default);
            yielded.Should().BeFalse("a MoveNextAsync raced by disposal ends (false, or the cancellation) without an outcome: every job waits for its token");
            pool.GetStatistics().RunningJobs.Should().Be(0, "disposal returns once the run's work has stopped");
        }
    }

    [Fact]
    public async Task StreamAsync_EnumeratorDisposedTwiceAtOnce_BothReturnOnlyOnceTheWorkHasStopped()
    {
        TaskCompletionSource started = NewGate();
        TaskCompletionSource release = NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(async (job, _) =>
        {
            started.TrySetResult();
            await release.Task;
            return job;
        });
        IAsyncEnumerator<JobResult<int, int>> enumerator = pool.StreamAsync([1]).GetAsyncEnumerator();
        ValueTask<bool> move = enumerator.MoveNextAsync();
        await started.Task.Within();

        Task first = enumerator.DisposeAsync().AsTask();
        Task second = enumerator.DisposeAsync().AsTask();

        second.IsCompleted.Should().BeFalse("the job ignores its token: the run's work has not stopped");
        release.SetResult();
        await first.Within();
        await second.Within();
        await move.AsTask().ContinueWith(static _ => { }, TaskScheduler.Default).Within();
    }

    [Fact]
    public async Task SubmitAsync_OneJobWaitsForThreeNestedSubmissions_LendsOnePlaceOnly()
    {
        TaskCompletionSource release = NewGate();
        int nestedStarted = 0;
        TaskCompletionSource allNestedStarted = NewGate();
        BoundedWorkerPool<int, int>? self = null;
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) =>
            {
                if (job == 0)
                {
                    int[] values = await Task.WhenAll(self!.SubmitAsync(1, ct).AsTask(), self.SubmitAsync(2, ct).AsTask(), self.SubmitAsync(3, ct).AsTask());
                    return values.Sum();
                }

                if (Interlocked.Increment(ref nestedStarted) == 2)
                {
                    allNestedStarted.SetResult();
                }

                await release.Task.WaitAsync(ct);
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 2 });
        self = pool;

        Task<int> outer = pool.SubmitAsync(0).AsTask();
        await allNestedStarted.Task.Within();

        pool.LentPlaces.Should().Be(1, "one job waits, however many nested runs it waits for");
        nestedStarted.Should().Be(2, "MaxWorkers 2, one place lent by the waiting job: two nested jobs run, the third waits");
        release.SetResult();
        (await outer.Within()).Should().Be(6);
        pool.LentPlaces.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_BackgroundWorkAJobLeftBehindCallsThePoolLater_ItIsNotANestedRun()
    {
        TaskCompletionSource later = NewGate();
        Task<IReadOnlyList<JobResult<int, int>>>? background = null;
        BoundedWorkerPool<int, int>? self = null;
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) =>
            {
                if (job == 0)
                {
                    // Started by the job, not awaited by it: it outlives the job, and carries the job's context.
                    background = Task.Run(async () =>
                    {
                        await later.Task;
                        return await self!.RunAsync([5]);
                    });
                }

                return ValueTask.FromResult(job);
            },
            new WorkerPoolOptions { MaxWorkers = 1 });
        self = pool;
        await pool.RunAsync([0]).Within();

        Task drain = pool.DrainAsync();
        later.SetResult();

        await background!.ShouldThrowAsync<InvalidOperationException>();
        pool.LentPlaces.Should().Be(0);
        await drain.Within();
    }

    [Fact]
    public async Task SubmitAsync_JobOfPoolPWaitsForPoolQWhoseJobWaitsForP_Completes()
    {
        BoundedWorkerPool<int, int>? p = null;
        BoundedWorkerPool<int, int>? q = null;
        await using var poolP = new BoundedWorkerPool<int, int>(
            async (job, ct) => job == 0 ? await q!.SubmitAsync(1, ct) + 1 : job * 10,
            new WorkerPoolOptions { MaxWorkers = 1, Name = "p" });
        await using var poolQ = new BoundedWorkerPool<int, int>(
            async (job, ct) => await p!.SubmitAsync(job + 1, ct) + 1,
            new WorkerPoolOptions { MaxWorkers = 1, Name = "q" });
        p = poolP;
        q = poolQ;

        (await poolP.SubmitAsync(0).Within()).Should().Be(22, "p's job 0 waits for q, whose job waits for p's job 2 (20), +1 twice");
    }

    [Fact]
    public async Task RunAsync_ValueTaskCallsTheContinuationThenThrows_TheFaultStaysWithThatJobNeverTheNext()
    {
        var source = new CallsContinuationThenThrows();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) =>
            {
                if (job == 0)
                {
                    return new ValueTask<int>(source, 0);
                }

                // The next job on the worker's slot starts while job 0's OnCompleted has yet to throw, and ends just after.
                source.NextJobStarted.TrySetResult();
                source.Thrown.Task.Wait(HangLimit, CancellationToken.None);
                Thread.Sleep(50);
                return ValueTask.FromResult(job);
            },
            new WorkerPoolOptions { MaxWorkers = 1 });

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync([0, 1]).Within();

        results[1].Status.Should().Be(JobStatus.Succeeded, "job 1 did nothing wrong, but got {0}", results[1].Error);
        results[1].Value.Should().Be(1);
        results[0].Should().Match<JobResult<int, int>>(r =>
            (r.Status == JobStatus.Succeeded && r.Value == 7) || (r.Status == JobStatus.Failed && r.Error == source.Error));
    }

    [Fact]
    public async Task RunAsync_SourceWhoseCountThrows_TheTaskFailsWithThatExceptionInsteadOfTheCall()
    {
        var source = new CountThrows();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(source);

        (await run.ShouldThrowAsync<InvalidOperationException>()).Should().BeSameAs(source.Error);
    }

    /// <summary>Takes the continuation, throws from OnCompleted, and calls the continuation when told to.</summary>
    private sealed class TakesContinuationThenThrows : IValueTaskSource<int>
    {
        private Action<object?>? _continuation;
        private object? _state;

        public InvalidOperationException Error { get; } = new("OnCompleted refused, after taking the continuation.");

        public TaskCompletionSource ContinuationTaken { get; } = NewGate();

        public ValueTaskSourceStatus GetStatus(short token) => ValueTaskSourceStatus.Pending;

        public int GetResult(short token) => throw Error;

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        {
            _continuation = continuation;
            _state = state;
            ContinuationTaken.TrySetResult();
            throw Error;
        }

        public void CallTheContinuationAgain() => _continuation!(_state);
    }

    /// <summary>Completes, calls the continuation, and then throws from OnCompleted once the next job has started.</summary>
    private sealed class CallsContinuationThenThrows : IValueTaskSource<int>
    {
        private volatile bool _completed;

        public InvalidOperationException Error { get; } = new("OnCompleted failed after it called the continuation.");

        public TaskCompletionSource NextJobStarted { get; } = NewGate();

        public TaskCompletionSource Thrown { get; } = NewGate();

        public ValueTaskSourceStatus GetStatus(short token) => _completed ? ValueTaskSourceStatus.Succeeded : ValueTaskSourceStatus.Pending;

        public int GetResult(short token) => 7;

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        {
            _completed = true;
            continuation(state);
            NextJobStarted.Task.Wait(HangLimit);
            Thrown.TrySetResult();
            throw Error;
        }
    }

    /// <summary>A collection whose Count throws; it enumerates 0, 1 and 2, and refuses changes.</summary>
    private sealed class CountThrows : ICollection<int>
    {
        public InvalidOperationException Error { get; } = new("Count failed.");

        public int Count => throw Error;

        public bool IsReadOnly => true;

        public void Add(int item) => throw new NotSupportedException();

        public void Clear() => throw new NotSupportedException();

        public bool Contains(int item) => item is >= 0 and < 3;

        public void CopyTo(int[] array, int arrayIndex) => throw new NotSupportedException();

        public bool Remove(int item) => throw new NotSupportedException();

        public IEnumerator<int> GetEnumerator() => Enumerable.Range(0, 3).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
