using System.Diagnostics.Metrics;
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

    [Fact]
    public async Task Duration_WorkerEndsASubmissionBeforeItsNextJob_ThatEndIsNotChargedToTheNextJob()
    {
        // The logger's RunEnded moves the clock an hour on: time the worker spends ending the submission the fast way.
        var clock = new TestClock();
        var logger = new ClockMovingLogger(clock, TimeSpan.FromHours(1), "RunEnded");
        var started = TestExtensions.NewGate();
        var release = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                if (job == 1)
                {
                    started.TrySetResult();
                    await release.Task;
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, TimeProvider = clock },
            logger);
        ValueTask<int> submitted = pool.SubmitAsync(1);
        await started.Task.Within();
        Task<IReadOnlyList<JobResult<int, int>>> next = pool.RunAsync([2]);
        await TestExtensions.UntilAsync(() => pool.GetStatistics().QueuedJobs == 1).Within();

        release.TrySetResult();

        (await submitted.Within()).Should().Be(1);
        logger.Moves.Should().BeGreaterThan(0, "the submission's end was logged");
        (await next.Within()).Should().ContainSingle().Which.Duration.Should().Be(TimeSpan.Zero, "job 2 returned at once, on a clock that did not move while it ran");
    }

    [Fact]
    public async Task Duration_JobAfterAFailedJob_DoesNotIncludeTheFailuresLogging()
    {
        // The logger's JobFailed moves the clock an hour on: time the worker spends logging job 1's failure.
        var clock = new TestClock();
        var logger = new ClockMovingLogger(clock, TimeSpan.FromHours(1), "JobFailed");
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Gated<int>(job => job == 1 ? throw new InvalidOperationException("job 1 fails") : job),
            new WorkerPoolOptions { MaxWorkers = 1, TimeProvider = clock },
            logger);
        probe.Release(2);
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1, 2]);
        await probe.Started(1).Within();
        await TestExtensions.UntilAsync(() => pool.GetStatistics().QueuedJobs == 1).Within();

        probe.Release(1);

        IReadOnlyList<JobResult<int, int>> results = await run.Within();
        logger.Moves.Should().Be(1, "job 1's failure was logged");
        results.Select(r => r.Status).Should().Equal(JobStatus.Failed, JobStatus.Succeeded);
        results[1].Duration.Should().Be(TimeSpan.Zero, "job 2 started after job 1's failure was logged, and returned at once");
    }

    [Fact]
    public async Task Clock_BackToBackSucceededJobsOfOneRun_ReadOnceAsEachJobEnds()
    {
        var clock = new CountingClock();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Gated(job => job),
            new WorkerPoolOptions { MaxWorkers = 1, TimeProvider = clock });
        probe.Release(1);
        probe.Release(2);
        probe.Release(3);
        probe.Release(4);
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1, 2, 3, 4]);
        await probe.Started(0).Within();
        await TestExtensions.UntilAsync(() => pool.GetStatistics().QueuedJobs == 4).Within();
        long before = clock.Reads;

        probe.Release(0);

        (await run.Within()).Should().OnlyContain(r => r.Status == JobStatus.Succeeded).And.HaveCount(5);
        await pool.WhenNoWorkersAsync().Within();
        (clock.Reads - before).Should().Be(5, "each of jobs 1 to 4 started when the job before it ended, without a read of its own");
    }

    [Fact]
    public async Task Duration_ListenerOnCompletedJobsOnly_ItsTimeIsNotChargedToTheNextJob()
    {
        // The listener of workerpool.jobs.completed (and of no other instrument) moves the clock an hour on per measurement.
        var clock = new TestClock();
        string poolName = "clock/listened-" + Guid.NewGuid().ToString("N");
        using MeterListener listener = InstrumentListener.Start<long>("workerpool.jobs.completed", poolName, _ => clock.Advance(TimeSpan.FromHours(1)));
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Gated(job => job),
            new WorkerPoolOptions { MaxWorkers = 1, Name = poolName, TimeProvider = clock });
        probe.Release(1);
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0, 1]);
        await probe.Started(0).Within();
        await TestExtensions.UntilAsync(() => pool.GetStatistics().QueuedJobs == 1).Within();

        probe.Release(0);

        (await run.Within()).Select(r => r.Duration).Should().Equal([TimeSpan.Zero, TimeSpan.Zero], "job 1 started after job 0's measurement was recorded");
    }

    /// <summary>A clock that moves one tick each time it is read, and counts its reads.</summary>
    private sealed class CountingClock : TimeProvider
    {
        private long _reads;

        public long Reads => Interlocked.Read(ref _reads);

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Increment(ref _reads);
    }

    /// <summary>A logger whose lines of one event take a given time of the test's clock.</summary>
    private sealed class ClockMovingLogger(TestClock clock, TimeSpan each, string eventName) : Microsoft.Extensions.Logging.ILoggerFactory, Microsoft.Extensions.Logging.ILogger
    {
        private int _moves;

        public int Moves => Volatile.Read(ref _moves);

        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Name == eventName)
            {
                clock.Advance(each);
                Interlocked.Increment(ref _moves);
            }
        }
    }

    /// <summary>A clock whose timestamp is 0, and stays there: a timestamp of 0 is as valid as any other.</summary>
    private sealed class StoppedAtZero : TimeProvider
    {
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => 0;
    }
}
