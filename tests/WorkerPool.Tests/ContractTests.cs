using Microsoft.Extensions.Logging;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>The smaller promises: value equality, argument checks, log outcomes, and never resuming on the caller's context.</summary>
public sealed class ContractTests : PoolTest
{
    [Fact]
    public void JobResult_Equality_ComparesEveryFieldAndTheErrorByReference()
    {
        var error = new InvalidOperationException("x");
        var a = new JobResult<int, string>(1, 10, JobStatus.Failed, "v", error, TimeSpan.FromMilliseconds(3));
        var same = new JobResult<int, string>(1, 10, JobStatus.Failed, "v", error, TimeSpan.FromMilliseconds(3));

        a.Equals(same).Should().BeTrue();
        (a == same).Should().BeTrue();
        (a != same).Should().BeFalse();
        a.Equals((object)same).Should().BeTrue();
        a.Equals("not a result").Should().BeFalse();
        a.GetHashCode().Should().Be(same.GetHashCode());

        JobResult<int, string>[] different =
        [
            new(2, 10, JobStatus.Failed, "v", error, TimeSpan.FromMilliseconds(3)),
            new(1, 11, JobStatus.Failed, "v", error, TimeSpan.FromMilliseconds(3)),
            new(1, 10, JobStatus.Canceled, "v", error, TimeSpan.FromMilliseconds(3)),
            new(1, 10, JobStatus.Failed, "w", error, TimeSpan.FromMilliseconds(3)),
            new(1, 10, JobStatus.Failed, "v", new InvalidOperationException("x"), TimeSpan.FromMilliseconds(3)),
            new(1, 10, JobStatus.Failed, "v", error, TimeSpan.FromMilliseconds(4)),
        ];
        foreach (JobResult<int, string> other in different)
        {
            a.Equals(other).Should().BeFalse(other.ToString());
            (a == other).Should().BeFalse();
            (a != other).Should().BeTrue();
        }
    }

    [Fact]
    public void Options_EachInvalidSettingIsRejectedWithItsName_AndTheLimitsThemselvesAreAccepted()
    {
        TimeSpan max = TimeSpan.FromMilliseconds(uint.MaxValue - 1);
        (WorkerPoolOptions Options, string Name)[] invalid =
        [
            (new WorkerPoolOptions { QueueCapacity = 0 }, "QueueCapacity"),
            (new WorkerPoolOptions { JobTimeout = TimeSpan.Zero }, "JobTimeout"),
            (new WorkerPoolOptions { JobTimeout = max + TimeSpan.FromMilliseconds(1) }, "JobTimeout"),
            (new WorkerPoolOptions { ShutdownTimeout = TimeSpan.FromMilliseconds(-2) }, "ShutdownTimeout"),
            (new WorkerPoolOptions { ShutdownTimeout = max + TimeSpan.FromMilliseconds(1) }, "ShutdownTimeout"),
            (new WorkerPoolOptions { ErrorMode = (ErrorMode)42 }, "ErrorMode"),
            (new WorkerPoolOptions { Name = " " }, "Name"),
            (new WorkerPoolOptions { TimeProvider = null! }, "TimeProvider"),
        ];
        foreach ((WorkerPoolOptions options, string name) in invalid)
        {
            FluentActions.Invoking(() => new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), options))
                .Should().Throw<ArgumentException>()
                .Where(e => e.ParamName == name && e.Message.Contains($"WorkerPoolOptions.{name}"), name);
        }

        var limits = new WorkerPoolOptions { QueueCapacity = 1, JobTimeout = max, ShutdownTimeout = max };
        FluentActions.Invoking(() => new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), limits)).Should().NotThrow();
    }

    [Fact]
    public void PublicConstructorsAndQueries_RejectNullArguments()
    {
        FluentActions.Invoking(() => WorkerPoolDiagnostics.GetLiveWorkers(null!)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => new WorkerPoolShutdownTimeoutException(null!, TimeSpan.Zero, [], null)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => new WorkerPoolShutdownTimeoutException("p", TimeSpan.Zero, null!, null)).Should().Throw<ArgumentNullException>();
        new WorkerPoolShutdownTimeoutException().Message.Should().Be("Jobs ignored cancellation past the shutdown timeout.");
        new WorkerPoolShutdownTimeoutException().PoolName.Should().BeEmpty();
    }

    [Fact]
    public async Task RunEndedLog_NamesHowEachRunEnded()
    {
        var logs = new CapturingLoggerFactory();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, token) => job < 0 ? throw new InvalidOperationException("bad") : probe.Gated(j => j)(job, token),
            new WorkerPoolOptions { ErrorMode = ErrorMode.StopOnFirstError },
            logs);
        using var cts = new CancellationTokenSource();

        probe.ReleaseAll();
        await pool.RunAsync([1]).Within();
        await pool.RunAsync([-1]).ShouldThrowAsync<InvalidOperationException>();
        var gated = new WorkProbe<int>();
        await using var held = new BoundedWorkerPool<int, int>(gated.Gated(j => j), loggerFactory: logs);
        Task<IReadOnlyList<JobResult<int, int>>> canceled = held.RunAsync([7], cts.Token);
        await gated.Started(7).Within();
        cts.Cancel();
        await canceled.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();

        logs.Entries.Where(e => e.EventId.Id == 2)
            .Select(e => e.State.Single(kv => kv.Key == "Outcome").Value)
            .Should().Equal("Completed", "Failed", "Canceled");
    }

    [Fact]
    public async Task DisposeAsync_IdlePool_LogsNothingAboutWorkInFlight()
    {
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), loggerFactory: logs);
        await pool.RunAsync([1, 2, 3]).Within();
        await pool.WhenNoWorkersAsync().Within();

        await pool.DisposeAsync().Within();

        logs.Entries.Should().NotContain(e => e.EventId.Id == 7);
    }

    [Fact]
    public async Task RunAsync_SourceWithACount_ReturnsOneArrayOfExactlyThatCount()
    {
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, 3000).ToArray()).Within();

        results.Should().BeOfType<JobResult<int, int>[]>().Which.Should().HaveCount(3000);
        results.Select(r => r.Value).Should().Equal(Enumerable.Range(0, 3000));
    }

    [Fact]
    public async Task TimedOutJob_TheWorkersNextJobGetsAFreshTimeout()
    {
        // On the system clock on purpose: only the system's timers let a timeout source be reset and reused, so this is
        // the test of a slot's source after its timer has fired. Timeouts on fake clocks are tested elsewhere.
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                if (job == 0)
                {
                    await Task.Delay(Timeout.Infinite, token);
                }

                await Task.Yield();
                token.ThrowIfCancellationRequested();
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 10, JobTimeout = TimeSpan.FromMilliseconds(500) });

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync([0, 1, 2]).Within();

        results.Select(r => r.Status).Should().Equal(JobStatus.TimedOut, JobStatus.Succeeded, JobStatus.Succeeded);
    }

    [Fact]
    public async Task StopOnFirstError_ACancellationCallbackOfAnotherJobThrows_TheRunEndsAndNothingGoesUnobserved()
    {
        var registered = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                if (job == 1)
                {
                    await registered.Task;
                    throw new InvalidOperationException("job 1 failed");
                }

                using CancellationTokenRegistration throwing = token.Register(static () => throw new InvalidDataException("callback"));
                registered.TrySetResult();
                await Task.Delay(Timeout.Infinite, token);
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 2, ErrorMode = ErrorMode.StopOnFirstError });

        // Job 1's failure stops the run: the pool cancels the run's token itself, and job 0's callback throws there.
        var failure = await pool.RunAsync([0, 1]).ShouldThrowAsync<InvalidOperationException>();
        failure.Message.Should().Be("job 1 failed");

        // PoolTest checks after this test, with a forced collection, that no task exception went unobserved.
    }

    [Fact]
    public async Task PublicCalls_NeverResumeOnTheCallersSynchronizationContext()
    {
        var context = new CountingContext();
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 2, PreserveOrder = true });
        Task all;
        SynchronizationContext? previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(context);
        try
        {
            all = UseEverythingAsync(pool, probe);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }

        await all.Within();

        // DisposeAsync with a run in flight, called under the context too.
        var held = new WorkProbe<int>();
        var second = new BoundedWorkerPool<int, int>(held.Gated(job => job));
        Task<IReadOnlyList<JobResult<int, int>>> inFlight = second.RunAsync([1]);
        await held.Started(1).Within();
        Task disposed;
        SynchronizationContext.SetSynchronizationContext(context);
        try
        {
            disposed = second.DisposeAsync().AsTask();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }

        await disposed.Within();
        await inFlight.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        context.Posts.Should().Be(0, "library code must not capture the caller's context");
    }

    [Fact]
    public async Task DrainAndStreamDisposal_WaitingUnderTheCallersContext_NeverResumeOnIt()
    {
        var context = new CountingContext();
        SynchronizationContext? previous = SynchronizationContext.Current;

        // A drain whose token is already cancelled: it stops the run at once, then waits for its job under the context.
        var drainProbe = new WorkProbe<int>();
        await using var drained = new BoundedWorkerPool<int, int>(drainProbe.Gated(job => job));
        Task<IReadOnlyList<JobResult<int, int>>> inFlight = drained.RunAsync([1]);
        await drainProbe.Started(1).Within();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        // A stream disposed while a MoveNextAsync waits, and one disposed between moves while a job still runs.
        var streamProbe = new WorkProbe<int>();
        await using var streamed = new BoundedWorkerPool<int, int>(streamProbe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 3 });
        IAsyncEnumerator<JobResult<int, int>> pending = streamed.StreamAsync([1]).GetAsyncEnumerator();
        ValueTask<bool> move = pending.MoveNextAsync();
        await streamProbe.Started(1).Within();
        IAsyncEnumerator<JobResult<int, int>> between = streamed.StreamAsync([2, 3]).GetAsyncEnumerator();
        ValueTask<bool> firstMove = between.MoveNextAsync();
        await Task.WhenAll(streamProbe.Started(2), streamProbe.Started(3)).Within();
        streamProbe.Release(2);
        (await firstMove.AsTask().Within()).Should().BeTrue();

        Task drain;
        Task disposedWhileMoving;
        Task disposedBetweenMoves;
        SynchronizationContext.SetSynchronizationContext(context);
        try
        {
            drain = drained.DrainAsync(cancelled.Token);
            disposedWhileMoving = pending.DisposeAsync().AsTask();
            disposedBetweenMoves = between.DisposeAsync().AsTask();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }

        await drain.Within();
        await disposedWhileMoving.Within();
        await disposedBetweenMoves.Within();
        await inFlight.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        await move.AsTask().ShouldThrowAsync<OperationCanceledException>();
        context.Posts.Should().Be(0, "library code must not capture the caller's context");
    }

    private static async Task UseEverythingAsync(BoundedWorkerPool<int, int> pool, WorkProbe<int> probe)
    {
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1, 2]);
        ValueTask<int> submitted = pool.SubmitAsync(3);
        IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([4, 5]).GetAsyncEnumerator();
        ValueTask<bool> first = stream.MoveNextAsync();
        probe.ReleaseAll();
        await run.ConfigureAwait(false);
        await submitted.ConfigureAwait(false);
        await first.ConfigureAwait(false);
        await stream.DisposeAsync().ConfigureAwait(false);
        await pool.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Runs posted work on the thread pool, under itself, and counts it.</summary>
    private sealed class CountingContext : SynchronizationContext
    {
        private int _posts;

        public int Posts => Volatile.Read(ref _posts);

        public override void Post(SendOrPostCallback d, object? state)
        {
            Interlocked.Increment(ref _posts);
            ThreadPool.QueueUserWorkItem(_ =>
            {
                SetSynchronizationContext(this);
                d(state);
            });
        }

        public override void Send(SendOrPostCallback d, object? state)
        {
            Interlocked.Increment(ref _posts);
            d(state);
        }
    }

    [Fact]
    public async Task WhenNoWorkersAsync_TwoWaiters_BothCompleteWhenTheLastWorkerRetires()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job));
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1]);
        await probe.Started(1).Within();

        Task first = pool.WhenNoWorkersAsync();
        Task second = pool.WhenNoWorkersAsync();
        first.IsCompleted.Should().BeFalse();
        probe.ReleaseAll();

        await Task.WhenAll(first, second).Within();
        await run.Within();
    }

    [Fact]
    public async Task Registry_ALivePoolStaysListedWhenMorePoolsAreCreated()
    {
        var probe = new WorkProbe<int>();
        string name = "listed-" + Guid.NewGuid().ToString("N");
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { Name = name });
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1]);
        await probe.Started(1).Within();

        for (int i = 0; i < 3; i++)
        {
            await using var other = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
        }

        WorkerPoolDiagnostics.GetLiveWorkers(name).Should().ContainSingle().Which.RunningJob!.Value.Index.Should().Be(0);
        probe.ReleaseAll();
        await run.Within();
    }

    [Fact]
    public async Task DisposedPool_ThrowsObjectDisposedEvenForACancelledToken()
    {
        var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
        await pool.DisposeAsync();
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        FluentActions.Invoking(() => { _ = pool.RunAsync([1], cts.Token); }).Should().Throw<ObjectDisposedException>();
        FluentActions.Invoking(() => { _ = pool.RunAsync(Sources.RangeAsync(1), cts.Token); }).Should().Throw<ObjectDisposedException>();
        Action submit = () => pool.SubmitAsync(1, cts.Token).AsTask();
        submit.Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public async Task StreamAsync_EnumeratorTokenAlreadyCancelled_ThrowsPlainCancellationAndStartsNothing()
    {
        var source = Sources.Counting(10);
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync(source).GetAsyncEnumerator(cts.Token);
        Exception caught = await stream.MoveNextAsync().AsTask().ShouldThrowAsync<OperationCanceledException>();

        caught.Should().NotBeOfType<WorkerPoolCanceledException<int, int>>();
        source.Enumerations.Should().Be(0);
    }

    [Fact]
    public async Task StreamAsync_EnumeratorTokenCancelledMidRun_ReportsTheCallersCancellationAndThatToken()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job));
        using var cts = new CancellationTokenSource();

        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([1, 2]).GetAsyncEnumerator(cts.Token);
        Task<bool> next = stream.MoveNextAsync().AsTask();
        await probe.Started(1).Within();
        cts.Cancel();

        var canceled = await next.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.CancellationToken.Should().Be(cts.Token);
        canceled.Message.Should().StartWith($"The run on pool '{pool.Name}' was cancelled;");
    }

    [Fact]
    public async Task StreamAsync_SourceNeverYieldsAgain_CancellationWakesTheWaitingConsumer()
    {
        var waiting = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
        using var cts = new CancellationTokenSource();
        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync(Sources.StallingAfterFirstAsync(waiting), cts.Token).GetAsyncEnumerator();

        (await stream.MoveNextAsync().AsTask().Within()).Should().BeTrue();
        Task<bool> next = stream.MoveNextAsync().AsTask();
        await waiting.Task.Within();
        cts.Cancel();

        await next.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
    }

    [Fact]
    public async Task RunAsync_SourceThrowsItsOwnCancellation_RunFailsWithIt()
    {
        var own = new OperationCanceledException("the source gave up");
        IEnumerable<int> Source()
        {
            yield return 1;
            throw own;
        }

        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));

        (await pool.RunAsync(Source()).ShouldThrowAsync<OperationCanceledException>()).Should().BeSameAs(own);
    }

    [Fact]
    public async Task RunAsync_AsyncSourceStopsWithTheRunsCancellation_RunReportsTheCancellationNotAFailure()
    {
        var probe = new WorkProbe<int>();
        using var cts = new CancellationTokenSource();
        async IAsyncEnumerable<int> Source([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken token = default)
        {
            for (int i = 0; ; i++)
            {
                token.ThrowIfCancellationRequested();
                yield return i;
                await Task.CompletedTask;
            }
        }

        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 1 });
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Source(), cts.Token);
        await probe.Started(0).Within();
        cts.Cancel();

        await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
    }

    [Fact]
    public async Task RunAsync_AsyncSourceDisposalThrows_RunFailsWithThatException()
    {
        var failure = new InvalidDataException("dispose failed");
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));

        var caught = await pool.RunAsync(new ThrowingOnDispose(failure)).ShouldThrowAsync<InvalidDataException>();

        caught.Should().BeSameAs(failure);
    }

    private sealed class ThrowingOnDispose(Exception failure) : IAsyncEnumerable<int>, IAsyncEnumerator<int>
    {
        private int _next;

        public int Current { get; private set; }

        public IAsyncEnumerator<int> GetAsyncEnumerator(CancellationToken cancellationToken = default) => this;

        public ValueTask<bool> MoveNextAsync()
        {
            Current = _next++;
            return ValueTask.FromResult(Current < 3);
        }

        public ValueTask DisposeAsync() => ValueTask.FromException(failure);
    }
}
