using Microsoft.Extensions.Logging;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>Behaviour 7: work that ignores its token is waited for, or, with a ShutdownTimeout, named.</summary>
public sealed class UncooperativeWorkTests : PoolTest
{
    [Fact]
    public async Task RunAsync_JobIgnoresTokenAndNoShutdownTimeout_RunWaitsForIt()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.GatedIgnoringCancellation(job => job), new WorkerPoolOptions { MaxWorkers = 1 });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1], cts.Token);
        await probe.Started(0).Within();
        cts.Cancel();
        await Task.Yield();
        run.IsCompleted.Should().BeFalse("job 0 is still executing");

        probe.Release(0);
        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();

        probe.Executing.Should().Be(0);
        canceled.Results[0].Status.Should().Be(JobStatus.Succeeded, "it finished its work despite the cancellation");
        canceled.Results[1].Status.Should().Be(JobStatus.Canceled);
        probe.Calls.Should().Be(1);
    }

    [Fact]
    public async Task RunAsync_JobIgnoresTokenPastShutdownTimeout_ThrowsNamingItAndLogsAtError()
    {
        var probe = new WorkProbe<int>();
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { MaxWorkers = 2, ShutdownTimeout = TimeSpan.FromMilliseconds(50), Name = "stubborn" },
            logs);
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([7, 8], cts.Token);
        await Task.WhenAll(probe.Started(7), probe.Started(8)).Within();
        probe.Release(8);
        await probe.Started(8).Within();
        cts.Cancel();

        var timeout = await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();

        timeout.PoolName.Should().Be("stubborn");
        RunningJobInfo stuck = timeout.RunningJobs.Should().ContainSingle().Subject;
        stuck.Index.Should().Be(0);
        stuck.Job.Should().Be(7);
        stuck.Elapsed.Should().BeGreaterThan(TimeSpan.Zero);
        timeout.Message.Should().Contain("#0");
        logs.Entries.Should().Contain(e => e.Level == LogLevel.Error && e.EventId.Name == "ShutdownTimeoutExceeded");

        // The stuck job still holds its worker until it actually returns.
        pool.GetStatistics().ActiveWorkers.Should().BeGreaterThanOrEqualTo(1);
        pool.GetStatistics().RunningJobs.Should().Be(1);

        probe.Release(7);
        await pool.WhenNoWorkersAsync().Within();
        pool.GetStatistics().RunningJobs.Should().Be(0);
        await pool.DisposeAsync().Within();
    }

    [Fact]
    public async Task DisposeAsync_JobIgnoresTokenPastShutdownTimeout_ReturnsAndLogsItAtError()
    {
        var probe = new WorkProbe<int>();
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = TimeSpan.FromMilliseconds(50) },
            logs);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([5]);
        await probe.Started(5).Within();

        await pool.DisposeAsync().Within();
        logs.Entries.Should().Contain(entry => entry.EventId.Name == "ShutdownTimeoutExceeded" && entry.Level == LogLevel.Error
            && entry.State.Any(pair => pair.Key == "JobIndex" && Equals(pair.Value, 0L)));
        pool.GetStatistics().RunningJobs.Should().Be(1, "the stuck job stays visible until it returns");
        var timeout = await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
        timeout.RunningJobs.Should().ContainSingle().Which.Job.Should().Be(5);

        probe.Release(5);

        // The second disposal waits at most ShutdownTimeout (50 ms) too; on a loaded machine the released job's worker
        // may need longer to end, so wait for the pool's own signal before looking.
        await pool.WhenNoWorkersAsync().Within();
        await pool.DisposeAsync().Within();
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
        probe.Executing.Should().Be(0);
    }

    [Fact]
    public async Task DrainAsync_CancelledWhileAJobIgnoresTokenPastShutdownTimeout_ThrowsNamingIt()
    {
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = TimeSpan.FromMilliseconds(50) });
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([5]);
        await probe.Started(5).Within();
        using var cts = new CancellationTokenSource();

        Task drain = pool.DrainAsync(cts.Token);
        drain.IsCompleted.Should().BeFalse("a run is in flight");
        await cts.CancelAsync();

        var timeout = await drain.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
        timeout.RunningJobs.Should().ContainSingle().Which.Job.Should().Be(5);
        await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();

        probe.Release(5);
        await pool.DisposeAsync().Within();
        pool.GetStatistics().ActiveWorkers.Should().Be(0);
        probe.Executing.Should().Be(0);
    }

    [Fact]
    public async Task StreamAsync_ConsumerBreaksWhileJobIgnoresTokenPastShutdownTimeout_DisposalThrowsNamingIt()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, _) =>
            {
                if (job == 1)
                {
                    await probe.GatedIgnoringCancellation(j => j)(job, default);
                }

                return job;
            }),
            new WorkerPoolOptions { MaxWorkers = 2, ShutdownTimeout = TimeSpan.FromMilliseconds(50), PreserveOrder = true });

        IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync(Enumerable.Range(0, 10)).GetAsyncEnumerator();
        (await stream.MoveNextAsync().Within()).Should().BeTrue();
        await probe.Started(1).Within();

        var timeout = await stream.DisposeAsync().AsTask().ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
        timeout.RunningJobs.Should().ContainSingle().Which.Index.Should().Be(1);

        probe.ReleaseAll();
        await pool.WhenNoWorkersAsync().Within();
    }
}
