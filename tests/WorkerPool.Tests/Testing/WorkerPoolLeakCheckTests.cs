using WorkerPool.Testing;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Testing;

/// <summary>The live-worker registry and the leak check built on it.</summary>
public sealed class WorkerPoolLeakCheckTests : PoolTest
{
    [Fact]
    public async Task VerifyNoneAsync_AfterRunsOnAPoolAtRest_Passes()
    {
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { Name = "at-rest" });
        await pool.RunAsync(Enumerable.Range(0, 10_000)).Within();

        // Workers may still be retiring right after the run; the check waits for them.
        await WorkerPoolLeakCheck.VerifyNoneAsync("at-rest").Within();
        WorkerPoolDiagnostics.GetLiveWorkers("at-rest").Should().BeEmpty();
    }

    [Fact]
    public async Task VerifyNoneAsync_WorkerStuckInAJob_ThrowsNamingPoolJobIndexAndRunningTime()
    {
        var probe = new WorkProbe<string>();
        await using var pool = new BoundedWorkerPool<string, int>(probe.GatedIgnoringCancellation(_ => 1), new WorkerPoolOptions { Name = "leaky-pool", MaxWorkers = 2 });
        Task<IReadOnlyList<JobResult<string, int>>> run = pool.RunAsync(["first", "second", "stuck"]);
        probe.Release("first");
        probe.Release("second");
        await probe.Started("stuck").Within();

        var leak = await WorkerPoolLeakCheck.VerifyNoneAsync("leaky-pool", TimeSpan.FromMilliseconds(50)).ShouldThrowAsync<WorkerPoolLeakException>();

        LiveWorkerInfo leaked = leak.Leaks.Should().ContainSingle(w => w.RunningJob != null).Subject;
        leaked.PoolName.Should().Be("leaky-pool");
        leaked.RunningJob!.Value.Index.Should().Be(2);
        leaked.RunningJob.Value.Job.Should().Be("stuck");
        leaked.RunningJob.Value.Elapsed.Should().BeGreaterThan(TimeSpan.Zero);
        leak.Message.Should().Contain("leaky-pool").And.Contain("#2").And.Contain(" ms");
        leak.Message.Should().NotContain("stuck", "a job's contents stay out of messages unless the pool opts in");

        probe.Release("stuck");
        await run.Within();
    }

    [Fact]
    public async Task VerifyNoneAsync_PoolHasAJobFormatter_MessageHoldsTheJobsText()
    {
        var probe = new WorkProbe<string>();
        await using var pool = new BoundedWorkerPool<string, int>(
            probe.GatedIgnoringCancellation(_ => 1),
            new WorkerPoolOptions { Name = "described-pool", JobFormatter = job => $"order {job}" });
        Task<IReadOnlyList<JobResult<string, int>>> run = pool.RunAsync(["A-17"]);
        await probe.Started("A-17").Within();

        var leak = await WorkerPoolLeakCheck.VerifyNoneAsync("described-pool", TimeSpan.FromMilliseconds(50)).ShouldThrowAsync<WorkerPoolLeakException>();

        leak.Message.Should().Contain("job #0 (order A-17)");
        probe.Release("A-17");
        await run.Within();
    }

    [Fact]
    public async Task VerifyNoneAsync_ScopedToAnotherPool_IgnoresThisPoolsWorkers()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { Name = "busy-pool" });
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1]);
        await probe.Started(1).Within();

        await WorkerPoolLeakCheck.VerifyNoneAsync("some-other-pool", TimeSpan.FromMilliseconds(10)).Within();
        WorkerPoolDiagnostics.GetLiveWorkers("busy-pool").Should().ContainSingle()
            .Which.RunningJob.Should().NotBeNull();
        WorkerPoolDiagnostics.GetLiveWorkers().Should().Contain(w => w.PoolName == "busy-pool");

        probe.ReleaseAll();
        await run.Within();
    }

    [Fact]
    public async Task GetLiveWorkers_StuckPastShutdownTimeout_StillListsTheWorkerAfterDisposal()
    {
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { Name = "stuck-after-dispose", ShutdownTimeout = TimeSpan.Zero });
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([9]);
        await probe.Started(9).Within();

        await pool.DisposeAsync().Within();
        await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();

        WorkerPoolDiagnostics.GetLiveWorkers("stuck-after-dispose").Should().ContainSingle()
            .Which.RunningJob!.Value.Job.Should().Be(9);

        probe.Release(9);
        await WorkerPoolLeakCheck.VerifyNoneAsync("stuck-after-dispose", TimeSpan.FromSeconds(10)).Within();
    }

    [Fact]
    public void VerifyNoneAsync_NegativeTimeout_Throws()
    {
        Action check = () => _ = WorkerPoolLeakCheck.VerifyNoneAsync(timeout: TimeSpan.FromSeconds(-1));

        check.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("timeout");
    }
}
