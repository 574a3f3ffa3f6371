using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>Every time the pool reports is read from <see cref="WorkerPoolOptions.TimeProvider"/>.</summary>
public sealed class ClockTests : PoolTest
{
    [Fact]
    public async Task RunAsync_FakeClock_DurationsElapsedAndAgeAreFakeTime()
    {
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Gated(job => job),
            new WorkerPoolOptions { MaxWorkers = 1, Name = "clock/fake", TimeProvider = clock });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1]);
        await probe.Started(0).Within();
        clock.Advance(TimeSpan.FromSeconds(3));
        probe.Release(0);
        await probe.Started(1).Within();
        clock.Advance(TimeSpan.FromMilliseconds(250));

        LiveWorkerInfo worker = WorkerPoolDiagnostics.GetLiveWorkers("clock/fake").Should().ContainSingle().Subject;
        worker.Age.Should().Be(TimeSpan.FromMilliseconds(3250), "the worker started with the first job");
        worker.RunningJob!.Value.Index.Should().Be(1);
        worker.RunningJob!.Value.Elapsed.Should().Be(TimeSpan.FromMilliseconds(250), "the second job started when the first ended");

        probe.Release(1);
        (await run.Within()).Select(r => r.Duration).Should().Equal(TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(250));
    }

    [Fact]
    public async Task GetLiveWorkers_ClockWhoseTimestampsStartAtZero_ListsTheWorkerStartedAtZero()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Gated(job => job),
            new WorkerPoolOptions { MaxWorkers = 1, Name = "clock/from-zero", TimeProvider = new StoppedAtZero() });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0]);
        await probe.Started(0).Within();

        LiveWorkerInfo worker = WorkerPoolDiagnostics.GetLiveWorkers("clock/from-zero").Should().ContainSingle().Subject;
        worker.Age.Should().Be(TimeSpan.Zero);
        worker.RunningJob!.Value.Index.Should().Be(0);

        probe.Release(0);
        await run.Within();
    }

    /// <summary>A clock whose timestamp is 0, and stays there: a timestamp of 0 is as valid as any other.</summary>
    private sealed class StoppedAtZero : TimeProvider
    {
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => 0;
    }
}
