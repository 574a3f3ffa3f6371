using WorkerPool.Tests.Support;
using static WorkerPool.Tests.Support.TestExtensions;

namespace WorkerPool.Tests.SharedPool;

/// <summary>
/// A job's token belongs to its caller. With a JobTimeout, a worker slot reuses the token source behind it from one job
/// to the next; a token one caller's job left behind must never be cancelled by what another caller does.
/// </summary>
public sealed class JobTokenTests : PoolTest
{
    private const int LeavesItsToken = 1;

    private CancellationToken _leftBehind;
    private readonly TaskCompletionSource _parked = NewGate();

    [Fact]
    public async Task SubmitAsync_WithJobTimeout_ATokenLeftBehindIsNotCancelledByTheNextCallersCancellation()
    {
        await using BoundedWorkerPool<int, int> pool = OneSlotPool();
        (await pool.SubmitAsync(LeavesItsToken).Within()).Should().Be(LeavesItsToken);

        await CancelAParkedCallAsync(ct => pool.SubmitAsync(2, ct).AsTask());

        _leftBehind.IsCancellationRequested.Should().BeFalse("the first caller's job ended before the second caller cancelled its own");
    }

    [Fact]
    public async Task RunAsync_WithJobTimeout_ATokenLeftBehindIsNotCancelledByAnotherRunsCancellation()
    {
        await using BoundedWorkerPool<int, int> pool = OneSlotPool();
        (await pool.RunAsync([LeavesItsToken]).Within()).Should().ContainSingle().Which.Status.Should().Be(JobStatus.Succeeded);

        await CancelAParkedCallAsync(ct => pool.RunAsync([2], ct));

        _leftBehind.IsCancellationRequested.Should().BeFalse("the first run ended before the second caller cancelled its own");
    }

    /// <summary>One worker, so that both callers' jobs run on the same slot, with a timeout that never fires.</summary>
    private BoundedWorkerPool<int, int> OneSlotPool() => new(
        async (job, ct) =>
        {
            if (job == LeavesItsToken)
            {
                _leftBehind = ct;
                return job;
            }

            _parked.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return job;
        },
        new WorkerPoolOptions { MaxWorkers = 1, JobTimeout = TimeSpan.FromHours(1) });

    /// <summary>A second caller starts a call whose job parks, then cancels it, and sees it cancelled.</summary>
    private async Task CancelAParkedCallAsync(Func<CancellationToken, Task> call)
    {
        using var secondCaller = new CancellationTokenSource();
        Task second = call(secondCaller.Token);
        await _parked.Task.Within();
        await secondCaller.CancelAsync();
        await FluentActions.Awaiting(() => second.Within()).Should().ThrowAsync<OperationCanceledException>();
    }
}
