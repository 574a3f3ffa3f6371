using System.Collections.Concurrent;
using WorkerPool.Tests.Support;
using static WorkerPool.Tests.Support.TestExtensions;

namespace WorkerPool.Tests.SharedPool;

/// <summary>
/// Admission to the shared queue is first come, first served, pool-wide: once a caller waits for room, no later caller's
/// job enters the queue before that caller's job, whichever of RunAsync, StreamAsync and SubmitAsync each one uses.
/// </summary>
public sealed class AdmissionTests : PoolTest
{
    [Fact]
    public async Task SubmitAsync_CallersWaitForRoom_JobsStartInTheOrderTheCallersCame()
    {
        var started = new ConcurrentQueue<int>();
        TaskCompletionSource blocker = NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) =>
            {
                started.Enqueue(job);
                if (job == 0)
                {
                    await blocker.Task.WaitAsync(ct);
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 1 });

        ValueTask<int> running = pool.SubmitAsync(0);
        await UntilAsync(() => started.Count == 1);
        ValueTask<int> queued = pool.SubmitAsync(1);
        await UntilAsync(() => pool.GetStatistics().QueuedJobs == 1);

        var waiting = new List<Task<int>>();
        for (int caller = 2; caller < 8; caller++)
        {
            waiting.Add(pool.SubmitAsync(caller).AsTask());
            int inLine = caller - 1;
            await UntilAsync(() => pool.WaitingForRoom == inLine);
        }

        blocker.SetResult();
        await running.Within();
        await queued.Within();
        await Task.WhenAll(waiting).Within();

        started.Should().Equal(Enumerable.Range(0, 8), "room goes to the callers in the order they began to wait");
    }

    [Fact]
    public async Task RunAsync_AProducerWaitsInLine_ALaterSubmissionWaitsBehindIt()
    {
        var started = new ConcurrentQueue<string>();
        TaskCompletionSource blocker = NewGate();
        await using var pool = new BoundedWorkerPool<string, string>(
            async (job, ct) =>
            {
                started.Enqueue(job);
                if (job == "block")
                {
                    await blocker.Task.WaitAsync(ct);
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 2 });

        ValueTask<string> running = pool.SubmitAsync("block");
        await UntilAsync(() => started.Count == 1);
        Task<IReadOnlyList<JobResult<string, string>>> batch = pool.RunAsync(["r0", "r1", "r2", "r3"]);
        await UntilAsync(() => pool.WaitingForRoom == 1);
        Task<string> late = pool.SubmitAsync("late").AsTask();
        await UntilAsync(() => pool.WaitingForRoom == 2);

        blocker.SetResult();
        await running.Within();
        await late.Within();
        await batch.Within();

        started.Should().Equal("block", "r0", "r1", "r2", "late", "r3");
    }

    [Fact]
    public async Task SubmitAsync_CallersAheadInLineCancel_TheCallerBehindThemIsAdmittedAndTheyNeverRun()
    {
        var started = new ConcurrentQueue<int>();
        TaskCompletionSource blocker = NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, ct) =>
            {
                started.Enqueue(job);
                if (job == 0)
                {
                    await blocker.Task.WaitAsync(ct);
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 1 });
        using var cancelled = new CancellationTokenSource();

        ValueTask<int> running = pool.SubmitAsync(0);
        await UntilAsync(() => started.Count == 1);
        ValueTask<int> queued = pool.SubmitAsync(1);
        await UntilAsync(() => pool.GetStatistics().QueuedJobs == 1);
        Task<int> gone1 = pool.SubmitAsync(2, cancelled.Token).AsTask();
        Task<int> gone2 = pool.SubmitAsync(3, cancelled.Token).AsTask();
        await UntilAsync(() => pool.WaitingForRoom == 2);
        Task<int> behind = pool.SubmitAsync(4).AsTask();
        await UntilAsync(() => pool.WaitingForRoom == 3);

        await cancelled.CancelAsync();
        await UntilAsync(() => pool.WaitingForRoom == 1);
        (await gone1.ShouldThrowAsync<OperationCanceledException>()).Should().NotBeNull();
        (await gone2.ShouldThrowAsync<OperationCanceledException>()).Should().NotBeNull();

        blocker.SetResult();
        (await behind.Within()).Should().Be(4);
        await running.Within();
        await queued.Within();
        started.Should().Equal(0, 1, 4);
    }

    [Fact]
    public async Task StreamAsync_AStreamWaitsForRoom_ASubmissionThatCameLaterDoesNotOvertakeIt()
    {
        var started = new ConcurrentQueue<string>();
        TaskCompletionSource blocker = NewGate();
        await using var pool = new BoundedWorkerPool<string, string>(
            async (job, ct) =>
            {
                started.Enqueue(job);
                if (job == "block")
                {
                    await blocker.Task.WaitAsync(ct);
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 1 });

        ValueTask<string> running = pool.SubmitAsync("block");
        await UntilAsync(() => started.Count == 1);
        ValueTask<string> queued = pool.SubmitAsync("queued");
        await UntilAsync(() => pool.GetStatistics().QueuedJobs == 1);
        Task<List<JobResult<string, string>>> stream = pool.StreamAsync(["s0"]).CollectAsync();
        await UntilAsync(() => pool.WaitingForRoom == 1);
        Task<string> late = pool.SubmitAsync("late").AsTask();
        await UntilAsync(() => pool.WaitingForRoom == 2);

        blocker.SetResult();
        await running.Within();
        await queued.Within();
        await late.Within();
        (await stream.Within()).Should().ContainSingle();

        started.Should().Equal("block", "queued", "s0", "late");
    }
}
