using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Runs;

/// <summary>
/// A job's token follows the tokens that cancel its call as a linked token would: it is cancelled before the caller's
/// <c>Cancel()</c> returns, and a cancellation callback of the job's that throws reaches that <c>Cancel()</c> without
/// keeping the call from ending; one that blocks holds that <c>Cancel()</c> but not the call's end. Once the call has
/// ended, the token stays usable by work the job left behind.
/// </summary>
public sealed class RunTokenTests : PoolTest
{
    public enum Caller
    {
        RunAsync,
        StreamAsyncToken,
        StreamAsyncWithCancellation,
        SubmitAsync,
    }

    [Theory]
    [InlineData(Caller.RunAsync)]
    [InlineData(Caller.StreamAsyncToken)]
    [InlineData(Caller.StreamAsyncWithCancellation)]
    [InlineData(Caller.SubmitAsync)]
    public async Task CallerCancels_TheRunningJobsTokenIsCancelledBeforeCancelReturnsAndStaysUsableOnceTheCallEnded(Caller caller)
    {
        var tokens = TestExtensions.NewGate<CancellationToken>();
        await using var pool = ParkingPool(tokens);
        using var cts = new CancellationTokenSource();

        Task call = Start(pool, caller, cts.Token);
        CancellationToken jobToken = await tokens.Task.Within();
        cts.Cancel();

        jobToken.IsCancellationRequested.Should().BeTrue("the job's token is cancelled inline, as a linked token is");
        await call.ShouldThrowAsync<OperationCanceledException>();

        Func<bool> waitOnIt = () => jobToken.WaitHandle.WaitOne(0);
        waitOnIt.Should().NotThrow("work a job left behind may still wait on its token's handle").Which.Should().BeTrue();
        bool ran = false;
        using (jobToken.Register(() => ran = true))
        {
            ran.Should().BeTrue("a registration on a cancelled token runs at once");
        }
    }

    [Theory]
    [InlineData(Caller.RunAsync)]
    [InlineData(Caller.StreamAsyncToken)]
    [InlineData(Caller.SubmitAsync)]
    public async Task CallerCancels_AJobsCallbackThrows_CancelReportsItAndTheCallStillEndsCancelled(Caller caller)
    {
        // The job hands its registration to the test instead of disposing it when its wait is cancelled: a job that
        // disposes it as it ends may, on its own thread, remove the callback before Cancel() has come to it, as it
        // may with any token source.
        var registered = TestExtensions.NewGate<CancellationTokenRegistration>();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                registered.TrySetResult(token.Register(static () => throw new InvalidDataException("callback")));
                await Task.Delay(Timeout.Infinite, token);
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1 });
        using var cts = new CancellationTokenSource();

        Task call = Start(pool, caller, cts.Token);
        using CancellationTokenRegistration throwing = await registered.Task.Within();

        Action cancel = cts.Cancel;
        cancel.Should().Throw<AggregateException>().Which.Flatten().InnerExceptions.Should().ContainSingle(e => e is InvalidDataException);
        await call.ShouldThrowAsync<OperationCanceledException>();
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
    }

    [Theory]
    [InlineData(Caller.RunAsync, false)]
    [InlineData(Caller.RunAsync, true)]
    [InlineData(Caller.StreamAsyncToken, false)]
    [InlineData(Caller.StreamAsyncToken, true)]
    [InlineData(Caller.StreamAsyncWithCancellation, false)]
    [InlineData(Caller.StreamAsyncWithCancellation, true)]
    [InlineData(Caller.SubmitAsync, false)]
    [InlineData(Caller.SubmitAsync, true)]
    public async Task CallerCancels_AJobsCallbackBlocksAfterTheJobEnded_TheCallEndsCancelledWithoutWaitingForIt(Caller caller, bool withJobTimeout)
    {
        using var release = new ManualResetEventSlim();
        var started = TestExtensions.NewGate();
        var blocking = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                // Registered before the delay's own registration, so it runs after it, once the job has ended.
                token.Register(() =>
                {
                    blocking.TrySetResult();
                    release.Wait();
                });
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, token);
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, JobTimeout = withJobTimeout ? TimeSpan.FromHours(1) : Timeout.InfiniteTimeSpan });
        using var cts = new CancellationTokenSource();

        Task call = Start(pool, caller, cts.Token);
        await started.Task.Within();
        Task canceling = Task.Run(cts.Cancel);
        try
        {
            await blocking.Task.Within();
            await call.ShouldThrowAsync<OperationCanceledException>();
            canceling.IsCompleted.Should().BeFalse("the job's callback still holds the thread that cancelled");
        }
        finally
        {
            release.Set();
        }

        await canceling.Within();
        pool.GetStatistics().Canceled.Should().Be(1);
    }

    [Fact]
    public async Task CallCompleted_WorkAJobLeftBehindCanStillUseItsToken()
    {
        var tokens = TestExtensions.NewGate<CancellationToken>();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, token) =>
            {
                tokens.TrySetResult(token);
                return ValueTask.FromResult(job);
            },
            new WorkerPoolOptions { MaxWorkers = 1 });

        await pool.RunAsync([1]);
        CancellationToken jobToken = await tokens.Task.Within();

        Func<bool> waitOnIt = () => jobToken.WaitHandle.WaitOne(0);
        waitOnIt.Should().NotThrow("work a job left behind may still wait on its token's handle").Which.Should().BeFalse();
    }

    /// <summary>A pool of one worker whose jobs hand their token to <paramref name="tokens"/> and park on it.</summary>
    private static BoundedWorkerPool<int, int> ParkingPool(TaskCompletionSource<CancellationToken> tokens) => new(
        async (job, token) =>
        {
            tokens.TrySetResult(token);
            await Task.Delay(Timeout.Infinite, token);
            return job;
        },
        new WorkerPoolOptions { MaxWorkers = 1 });

    private static Task Start(BoundedWorkerPool<int, int> pool, Caller caller, CancellationToken token) => caller switch
    {
        Caller.RunAsync => pool.RunAsync([1], token),
        Caller.StreamAsyncToken => pool.StreamAsync([1], token).CollectAsync(),
        Caller.StreamAsyncWithCancellation => pool.StreamAsync([1], CancellationToken.None).WithCancellation(token).CollectAsync(),
        _ => pool.SubmitAsync(1, token).AsTask(),
    };
}
