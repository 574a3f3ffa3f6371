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
        await using BoundedWorkerPool<int, int> pool = PoolBlockedBy(0, queueCapacity: 1, started, blocker);

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
        await using BoundedWorkerPool<string, string> pool = PoolBlockedBy("block", queueCapacity: 2, started, blocker);

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
    public async Task RunAsync_TwoCallersWaitInLineWithTwentyJobsEach_EachCallersJobsAreAdmittedTogether()
    {
        var started = new ConcurrentQueue<string>();
        TaskCompletionSource blocker = NewGate();
        await using BoundedWorkerPool<string, string> pool =
            PoolBlockedBy("block", queueCapacity: 64, started, blocker);
        string[] Jobs(string caller, int count) => [.. Enumerable.Range(0, count).Select(i => caller + i)];

        ValueTask<string> running = pool.SubmitAsync("block");
        await UntilAsync(() => started.Count == 1);
        Task<IReadOnlyList<JobResult<string, string>>> fill = pool.RunAsync(Jobs("f", 64));
        await UntilAsync(() => pool.GetStatistics().QueuedJobs == 64);
        Task<IReadOnlyList<JobResult<string, string>>> first = pool.RunAsync(Jobs("a", 20));
        await UntilAsync(() => pool.WaitingForRoom == 1);
        Task<IReadOnlyList<JobResult<string, string>>> second = pool.RunAsync(Jobs("b", 20));
        await UntilAsync(() => pool.WaitingForRoom == 2);

        blocker.SetResult();
        await running.Within();
        await Task.WhenAll(fill, first, second).Within();

        // Each caller waited in line once with all its jobs (at most half the queue), as it would behind a semaphore
        // entered once per caller: the first caller's jobs do not interleave with the second's.
        started.Should().Equal(["block", .. Jobs("f", 64), .. Jobs("a", 20), .. Jobs("b", 20)]);
    }

    [Fact]
    public async Task RunAsync_CallersWaitInLineWithMoreJobsThanHalfTheQueue_TheyTakeTurnsHalfAQueueAtATime()
    {
        var started = new ConcurrentQueue<string>();
        TaskCompletionSource blocker = NewGate();
        await using BoundedWorkerPool<string, string> pool =
            PoolBlockedBy("block", queueCapacity: 8, started, blocker);
        string[] Jobs(string caller, int from, int count) =>
            [.. Enumerable.Range(from, count).Select(i => caller + i)];

        ValueTask<string> running = pool.SubmitAsync("block");
        await UntilAsync(() => started.Count == 1);
        Task<IReadOnlyList<JobResult<string, string>>> fill = pool.RunAsync(Jobs("f", 0, 8));
        await UntilAsync(() => pool.GetStatistics().QueuedJobs == 8);
        Task<IReadOnlyList<JobResult<string, string>>> first = pool.RunAsync(Jobs("a", 0, 6));
        await UntilAsync(() => pool.WaitingForRoom == 1);
        Task<IReadOnlyList<JobResult<string, string>>> second = pool.RunAsync(Jobs("b", 0, 6));
        await UntilAsync(() => pool.WaitingForRoom == 2);

        blocker.SetResult();
        await running.Within();
        await Task.WhenAll(fill, first, second).Within();

        // A producer waits in line with at most half the queue (4 of 8) at a time. After its admission it pulls the
        // rest only once it runs again, so which of the two callers' last jobs go first is up to the thread pool.
        started.Take(17).Should().Equal(["block", .. Jobs("f", 0, 8), .. Jobs("a", 0, 4), .. Jobs("b", 0, 4)]);
        string[] rest = [.. started.Skip(17)];
        rest.Where(job => job[0] == 'a').Should().Equal(Jobs("a", 4, 2));
        rest.Where(job => job[0] == 'b').Should().Equal(Jobs("b", 4, 2));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public async Task RunAsync_SmallQueue_CallersWaitingInLineWithManyJobsEach_RunEveryJobOnce(int queueCapacity)
    {
        var started = new ConcurrentQueue<string>();
        TaskCompletionSource blocker = NewGate();
        await using BoundedWorkerPool<string, string> pool =
            PoolBlockedBy("block", queueCapacity, started, blocker);
        string[] Jobs(string caller) => [.. Enumerable.Range(0, 7).Select(i => caller + i)];

        ValueTask<string> running = pool.SubmitAsync("block");
        await UntilAsync(() => started.Count == 1);
        Task<IReadOnlyList<JobResult<string, string>>> first = pool.RunAsync(Jobs("a"));
        Task<IReadOnlyList<JobResult<string, string>>> second = pool.RunAsync(Jobs("b"));
        await UntilAsync(() => pool.WaitingForRoom == 2);

        blocker.SetResult();
        await running.Within();
        (await first.Within()).Select(r => r.Value).Should().Equal(Jobs("a"));
        (await second.Within()).Select(r => r.Value).Should().Equal(Jobs("b"));

        started.Should().OnlyHaveUniqueItems().And.HaveCount(15);
        pool.GetStatistics().QueuedJobs.Should().Be(0);
        pool.WaitingForRoom.Should().Be(0);
    }

    [Fact]
    public async Task SubmitAsync_CallersAheadInLineCancel_TheCallerBehindThemIsAdmittedAndTheyNeverRun()
    {
        var started = new ConcurrentQueue<int>();
        TaskCompletionSource blocker = NewGate();
        await using BoundedWorkerPool<int, int> pool = PoolBlockedBy(0, queueCapacity: 1, started, blocker);
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
        await using BoundedWorkerPool<string, string> pool = PoolBlockedBy("block", queueCapacity: 1, started, blocker);

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

    /// <summary>
    /// A pool of one worker whose work records each job as it starts, and holds <paramref name="blocking"/> until
    /// <paramref name="blocker"/> opens.
    /// </summary>
    private static BoundedWorkerPool<T, T> PoolBlockedBy<T>(
        T blocking, int queueCapacity, ConcurrentQueue<T> started, TaskCompletionSource blocker) =>
        new(
            async (job, ct) =>
            {
                started.Enqueue(job);
                if (EqualityComparer<T>.Default.Equals(job, blocking))
                {
                    await blocker.Task.WaitAsync(ct);
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = queueCapacity });
}
