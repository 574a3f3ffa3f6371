using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>
/// A job that shuts down its own pool: disposal cannot wait for the job that asks for it, and a drain from inside a job
/// would wait for that job forever.
/// </summary>
public sealed class SelfShutdownTests : PoolTest
{
    [Fact]
    public async Task DisposeAsync_FromInsideOneOfItsJobs_StartsTheDisposalAndReturnsWithoutWaitingForThatJob()
    {
        TaskCompletionSource disposeReturned = TestExtensions.NewGate();
        BoundedWorkerPool<int, int>? self = null;
        var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) =>
            {
                if (job == 0)
                {
                    await self!.DisposeAsync();
                    disposeReturned.SetResult();
                    return -1;
                }

                await Task.Delay(Timeout.Infinite, ct);
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 2, Name = "self-disposing" });
        self = pool;

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1]);

        await disposeReturned.Task.Within();
        await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        pool.GetStatistics().IsDisposed.Should().BeTrue();
        Action runAgain = () => _ = pool.RunAsync([2]);
        runAgain.Should().Throw<ObjectDisposedException>();

        // Disposal from outside still waits for every job, as always.
        await pool.DisposeAsync().Within();
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
    }

    [Fact]
    public async Task Dispose_FromInsideOneOfItsJobs_ReturnsWithoutBlockingThatJobsWorker()
    {
        BoundedWorkerPool<int, int>? self = null;
        var pool = new BoundedWorkerPool<int, int>(
            (job, _) =>
            {
                self!.Dispose();
                return new ValueTask<int>(job + 1);
            },
            new WorkerPoolOptions { MaxWorkers = 1 });
        self = pool;

        Task<int> submitted = pool.SubmitAsync(41).AsTask();

        // The job's value, or the disposal's cancellation if it came first: either way the call ends.
        await Task.WhenAny(submitted).Within();
        if (submitted.IsCompletedSuccessfully)
        {
            (await submitted).Should().Be(42);
        }
        else
        {
            (await submitted.ShouldThrowAsync<OperationCanceledException>()).Should().NotBeNull();
        }

        await pool.DisposeAsync().Within();
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
    }

    [Fact]
    public async Task DrainAsync_FromInsideOneOfItsJobs_ThrowsAndLeavesThePoolAcceptingRuns()
    {
        BoundedWorkerPool<int, int>? self = null;
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) =>
            {
                if (job == 0)
                {
                    await self!.DrainAsync(ct);
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, Name = "self-draining" });
        self = pool;

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync([0, 1]).Within();

        results[0].Status.Should().Be(JobStatus.Failed);
        results[0].Error.Should().BeOfType<InvalidOperationException>()
            .Which.Message.Should().Contain("'self-draining'").And.Contain("inside one of its own jobs");
        results[1].Value.Should().Be(1);
        pool.GetStatistics().IsDraining.Should().BeFalse();
        (await pool.SubmitAsync(7).Within()).Should().Be(7);
    }
}
