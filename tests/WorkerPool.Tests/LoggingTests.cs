using Microsoft.Extensions.Logging;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>Log events: stable ids and names, the documented levels, and their fields.</summary>
public sealed class LoggingTests : PoolTest
{
    [Fact]
    public async Task RunAsync_Completes_LogsRunStartedAndRunEndedAtDebugWithCountAndElapsed()
    {
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { Name = "logged" }, logs);

        await pool.RunAsync(Enumerable.Range(0, 12)).Within();

        logs.Entries.Should().ContainSingle(e => e.EventId.Id == 1 && e.EventId.Name == "RunStarted" && e.Level == LogLevel.Debug);
        CapturingLoggerFactory.LogEntry ended = logs.Entries.Should().ContainSingle(e => e.EventId.Id == 2).Subject;
        ended.EventId.Name.Should().Be("RunEnded");
        ended.Level.Should().Be(LogLevel.Debug);
        ended.State.Should().Contain(new KeyValuePair<string, object?>("JobCount", 12L));
        ended.State.Should().Contain(new KeyValuePair<string, object?>("Outcome", "Completed"));
        ended.State.Should().Contain(kv => kv.Key == "ElapsedMs");
        ended.State.Should().Contain(new KeyValuePair<string, object?>("PoolName", "logged"));
    }

    [Fact]
    public async Task Pool_LogsUnderTheDocumentedCategory()
    {
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions(), logs);

        await pool.RunAsync([0]).Within();

        logs.Categories.Should().Equal("WorkerPool.BoundedWorkerPool");
        logs.Entries.Should().NotBeEmpty();
    }

    [Fact]
    public async Task RunAsync_FakeClock_RunEndedGivesTheFakeTimeTheRunTook()
    {
        var clock = new TestClock();
        var logs = new CapturingLoggerFactory();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { TimeProvider = clock }, logs);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0]);
        await probe.Started(0).Within();
        clock.Advance(TimeSpan.FromMilliseconds(1500));
        probe.Release(0);
        await run.Within();

        logs.Entries.Should().ContainSingle(e => e.EventId.Name == "RunEnded")
            .Which.State.Should().Contain(new KeyValuePair<string, object?>("ElapsedMs", 1500.0));
    }

    [Fact]
    public async Task RunAsync_DebugEnabledOnlyAfterTheRunStarted_RunEndedGivesZeroRatherThanAMadeUpTime()
    {
        var clock = new TestClock();
        var logs = new CapturingLoggerFactory(minimumLevel: LogLevel.Information);
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { TimeProvider = clock }, logs);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0]);
        await probe.Started(0).Within();
        logs.MinimumLevel = LogLevel.Debug;
        clock.Advance(TimeSpan.FromMilliseconds(1500));
        probe.Release(0);
        await run.Within();

        // The run's start was not logged, so it was not timed: its end must not make up a duration, and says 0.
        logs.Entries.Should().ContainSingle(e => e.EventId.Name == "RunEnded")
            .Which.State.Should().ContainSingle(pair => pair.Key == "ElapsedMs")
            .Which.Value.Should().BeOfType<double>().Which.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_TwoRuns_EveryLineOfARunCarriesItsRunIdInAScope()
    {
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => job == 1 ? ValueTask.FromException<int>(new InvalidOperationException("bad")) : ValueTask.FromResult(job),
            new WorkerPoolOptions { Name = "scoped" },
            logs);

        await pool.RunAsync([0, 1]).Within();
        await pool.RunAsync([0, 1]).Within();

        var byRun = logs.Entries
            .Select(e => (e.EventId.Name, RunId: e.Scope.Single(kv => kv.Key == "RunId").Value, PoolName: e.Scope.Single(kv => kv.Key == "PoolName").Value))
            .ToList();
        byRun.Should().OnlyContain(e => Equals(e.PoolName, "scoped"));
        byRun.Where(e => Equals(e.RunId, 1L)).Select(e => e.Name).Should().Equal("RunStarted", "JobFailed", "RunEnded");
        byRun.Where(e => Equals(e.RunId, 2L)).Select(e => e.Name).Should().Equal("RunStarted", "JobFailed", "RunEnded");
    }

    [Fact]
    public async Task SubmitAsync_TwoSubmittedJobsFail_EachMessageNamesItsRunWithoutTheScope()
    {
        // Every submission is a run whose one job is #0: a console without scopes must still tell the two apart.
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => ValueTask.FromException<int>(new InvalidOperationException("bad " + job)),
            new WorkerPoolOptions { Name = "submitted" },
            logs);

        await pool.SubmitAsync(1).AsTask().ShouldThrowAsync<InvalidOperationException>();
        await pool.SubmitAsync(2).AsTask().ShouldThrowAsync<InvalidOperationException>();

        logs.Entries.Where(e => e.EventId.Name == "JobFailed").Select(e => e.Message).Should().Equal(
            "Pool submitted: run 1 job #0 failed; the run goes on",
            "Pool submitted: run 2 job #0 failed; the run goes on");
        logs.Entries.Where(e => e.EventId.Name == "RunStarted").Select(e => e.Message).Should().Equal(
            "Pool submitted: run 1 started",
            "Pool submitted: run 2 started");
    }

    [Fact]
    public async Task SubmitAsync_JobTimesOut_RunEndedSaysCompletedWithFailures()
    {
        TimeSpan jobTimeout = TimeSpan.FromSeconds(1);
        var clock = new TestClock();
        var logs = new CapturingLoggerFactory();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Gated(job => job),
            new WorkerPoolOptions { JobTimeout = jobTimeout, TimeProvider = clock },
            logs);

        Task<int> submitted = pool.SubmitAsync(1).AsTask();
        await probe.Started(1).Within();
        clock.Advance(jobTimeout);
        await submitted.ShouldThrowAsync<TimeoutException>();

        CapturingLoggerFactory.LogEntry ended = logs.Entries.Should().ContainSingle(e => e.EventId.Name == "RunEnded").Subject;
        ended.State.Should().Contain(new KeyValuePair<string, object?>("Outcome", "CompletedWithFailures"));
        ended.State.Should().Contain(new KeyValuePair<string, object?>("UnsuccessfulCount", 1L));
    }

    [Fact]
    public async Task RunAsync_SomeJobsFail_RunEndedSaysCompletedWithFailuresAndCountsThem()
    {
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => job % 3 == 1 ? ValueTask.FromException<int>(new InvalidOperationException()) : ValueTask.FromResult(job),
            new WorkerPoolOptions(),
            logs);

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, 6)).Within();

        results.Count(r => r.Status == JobStatus.Failed).Should().Be(2);
        CapturingLoggerFactory.LogEntry ended = logs.Entries.Should().ContainSingle(e => e.EventId.Name == "RunEnded").Subject;
        ended.State.Should().Contain(new KeyValuePair<string, object?>("Outcome", "CompletedWithFailures"));
        ended.State.Should().Contain(new KeyValuePair<string, object?>("JobCount", 6L));
        ended.State.Should().Contain(new KeyValuePair<string, object?>("UnsuccessfulCount", 2L));
    }

    [Fact]
    public async Task SubmitAsync_JobSucceeds_RunEndedSaysCompletedWithNoneUnsuccessful()
    {
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions(), logs);

        (await pool.SubmitAsync(7).AsTask().Within()).Should().Be(7);

        CapturingLoggerFactory.LogEntry ended = logs.Entries.Should().ContainSingle(e => e.EventId.Name == "RunEnded").Subject;
        ended.State.Should().Contain(new KeyValuePair<string, object?>("Outcome", "Completed"));
        ended.State.Should().Contain(new KeyValuePair<string, object?>("UnsuccessfulCount", 0L));
    }

    [Fact]
    public async Task DisposeAsync_WithWorkInFlight_LogsAtInformation()
    {
        var logs = new CapturingLoggerFactory();
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), loggerFactory: logs);
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([1]);
        await probe.Started(1).Within();

        await pool.DisposeAsync().Within();

        await run.ShouldThrowAsync<OperationCanceledException>();
        logs.Entries.Should().ContainSingle(e => e.EventId.Id == 7 && e.EventId.Name == "DisposedWithWorkInFlight" && e.Level == LogLevel.Information);
    }

    [Fact]
    public async Task DisposeAsync_RunWaitingForItsSource_LogsOneRunAndNoJobOutsideAnyRunScope()
    {
        var logs = new CapturingLoggerFactory();
        var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), loggerFactory: logs);
        var waiting = TestExtensions.NewGate();
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Sources.StallingAfterFirstAsync(waiting));
        await waiting.Task.Within();
        await TestExtensions.UntilAsync(() => pool.GetStatistics() is { Succeeded: 1, RunningJobs: 0 }).Within();

        await pool.DisposeAsync().Within();

        await run.ShouldThrowAsync<OperationCanceledException>();
        CapturingLoggerFactory.LogEntry disposed = logs.Entries.Should().ContainSingle(e => e.EventId.Name == "DisposedWithWorkInFlight").Subject;
        disposed.State.Should().Contain(new KeyValuePair<string, object?>("RunCount", 1));
        disposed.State.Should().Contain(new KeyValuePair<string, object?>("RunningJobs", 0));
        disposed.Scope.Should().BeEmpty("the pool's own message belongs to no run");
    }

    [Fact]
    public async Task RunAsync_SourceThrows_LogsSourceFailedAtWarning()
    {
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), loggerFactory: logs);

        await pool.RunAsync(Sources.ThrowingAfter(2, new InvalidDataException("bad"))).ShouldThrowAsync<InvalidDataException>();

        logs.Entries.Should().ContainSingle(e => e.EventId.Id == 8 && e.Level == LogLevel.Warning && e.Exception is InvalidDataException);
    }

    [Fact]
    public async Task RunAsync_DebugDisabled_PerJobEventsAreNeverFormattedOrSent()
    {
        var logs = new CapturingLoggerFactory(minimumLevel: LogLevel.Information);
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => job % 2 == 1 ? throw new InvalidOperationException() : ValueTask.FromResult(job), loggerFactory: logs);

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, 100)).Within();

        results.Count(r => r.Status == JobStatus.Failed).Should().Be(50);
        logs.Entries.Should().BeEmpty();
        logs.CallsBelowMinimum.Should().Be(0, "every event checks IsEnabled before it builds its message");
    }

    [Fact]
    public async Task RunAsync_LoggingProviderThrows_WorkersSurviveAndEveryOutcomeIsReturned()
    {
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => job % 3 == 0 ? throw new InvalidOperationException("job failed") : ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 2 },
            new ThrowingLoggerFactory());

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, 30)).Within();

        results.Should().HaveCount(30);
        results.Count(r => r.Status == JobStatus.Failed).Should().Be(10);
        await pool.WhenNoWorkersAsync().Within();
    }

    private sealed class ThrowingLoggerFactory : ILoggerFactory, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Name == "JobFailed")
            {
                throw new InvalidOperationException("logging provider failed");
            }
        }
    }
}
