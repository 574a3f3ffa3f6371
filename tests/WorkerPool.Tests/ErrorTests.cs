using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>Behaviour 5: errors are outcomes in Collect mode, and the root cause in StopOnFirstError mode.</summary>
public sealed class ErrorTests : PoolTest
{
    private sealed class JobException(int job) : Exception($"job {job} failed")
    {
        public int Job { get; } = job;
    }

    [Fact]
    public async Task RunAsync_CollectMode_FailuresAreRecordedAndNoWorkerDies()
    {
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                await Task.Yield();
                return job % 2 == 1 ? throw new JobException(job) : job;
            },
            new WorkerPoolOptions { MaxWorkers = 1 },
            logs);

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, 20)).Within();

        results.Should().HaveCount(20);
        results.Where(r => r.Index % 2 == 1).Should().OnlyContain(r => r.Status == JobStatus.Failed && ((JobException)r.Error!).Job == r.Job);
        results.Where(r => r.Index % 2 == 0).Should().OnlyContain(r => r.IsSuccess && r.Value == r.Job);
        pool.GetStatistics().Failed.Should().Be(10);
        pool.GetStatistics().Succeeded.Should().Be(10);
        logs.Entries.Where(e => e.EventId.Name == "JobFailed").Should().HaveCount(10).And.OnlyContain(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Debug);
    }

    [Fact]
    public async Task RunAsync_JobThrowsSynchronously_IsRecordedAsFailed()
    {
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => job == 2 ? throw new JobException(job) : ValueTask.FromResult(job));

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, 5)).Within();

        results[2].Status.Should().Be(JobStatus.Failed);
        results[2].Error.Should().BeOfType<JobException>();
        results.Count(r => r.IsSuccess).Should().Be(4);
    }

    [Fact]
    public async Task RunAsync_JobReturnsCancelledTaskOfItsOwn_IsAFailureNotACancellation()
    {
        using var own = new CancellationTokenSource();
        own.Cancel();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => job == 1 ? ValueTask.FromCanceled<int>(own.Token) : ValueTask.FromResult(job));

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, 3)).Within();

        results[1].Status.Should().Be(JobStatus.Failed);
        results[1].Error.Should().BeAssignableTo<OperationCanceledException>();
        results[0].IsSuccess.Should().BeTrue();
        results[2].IsSuccess.Should().BeTrue();
    }

    [Fact]
    public async Task RunAsync_StopOnFirstError_ThrowsTheRootCauseAfterAllWorkStopped()
    {
        var probe = new WorkProbe<int>();
        var logs = new CapturingLoggerFactory();
        var failure = new JobException(1);
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>(async (job, token) =>
            {
                if (job == 1)
                {
                    await probe.Started(0);
                    throw failure;
                }

                await Task.Delay(Timeout.Infinite, token);
                return job;
            }),
            new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 10, ErrorMode = ErrorMode.StopOnFirstError },
            logs);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, 10));
        Task<int> executingAtCompletion = run.ContinueWith(_ => probe.Executing, TaskScheduler.Default);

        var thrown = await run.ShouldThrowAsync<JobException>();
        thrown.Should().BeSameAs(failure);
        (await executingAtCompletion).Should().Be(0);
        probe.StartedJobs.Should().BeEquivalentTo([0, 1], "jobs after the failure never start");
        logs.Entries.Should().ContainSingle(e => e.EventId.Name == "RunStoppedOnFirstError" && e.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task StreamAsync_StopOnFirstError_ThrowsTheRootCause()
    {
        var failure = new JobException(3);
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => job == 3 ? throw failure : ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 1, ErrorMode = ErrorMode.StopOnFirstError, PreserveOrder = true });

        var seen = new List<long>();
        async Task Consume()
        {
            await foreach (JobResult<int, int> result in pool.StreamAsync(Enumerable.Range(0, 10)))
            {
                seen.Add(result.Index);
            }
        }

        (await Consume().ShouldThrowAsync<JobException>()).Should().BeSameAs(failure);
        seen.Should().NotContain(i => i >= 3, "nothing is yielded once the run stops on its first error");
    }

    [Fact]
    public async Task RunAsync_SyncSourceThrowsMidway_RunEndsWithTheSourceException()
    {
        var probe = new WorkProbe<int>();
        var error = new FormatException("bad record");
        await using var pool = new BoundedWorkerPool<int, int>(probe.Wrap<int>((job, _) => ValueTask.FromResult(job)), new WorkerPoolOptions { MaxWorkers = 2 });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Sources.ThrowingAfter(5, error));
        Task<int> executingAtCompletion = run.ContinueWith(_ => probe.Executing, TaskScheduler.Default);

        (await run.ShouldThrowAsync<FormatException>()).Should().BeSameAs(error);
        (await executingAtCompletion).Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_AsyncSourceThrows_RunEndsWithTheSourceException()
    {
        var error = new IOException("broker connection lost");
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Sources.ThrowingAfterAsync(5, error));

        (await run.ShouldThrowAsync<IOException>()).Should().BeSameAs(error);
    }

    [Theory]
    [InlineData(ErrorMode.Collect, false)]
    [InlineData(ErrorMode.StopOnFirstError, false)]
    [InlineData(ErrorMode.Collect, true)]
    [InlineData(ErrorMode.StopOnFirstError, true)]
    public async Task RunAsync_SourceCurrentThrows_RunEndsWithThatExceptionAndCountsOnlyThePulledJobs(ErrorMode mode, bool asynchronous)
    {
        var error = new FormatException("bad record 3");
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { ErrorMode = mode });

        Task<IReadOnlyList<JobResult<int, int>>> run = asynchronous
            ? pool.RunAsync(Sources.CurrentThrowingAtAsync(count: 5, at: 3, error))
            : pool.RunAsync(Sources.CurrentThrowingAt(count: 5, at: 3, error));

        (await run.ShouldThrowAsync<FormatException>()).Should().BeSameAs(error);
        await pool.WhenNoWorkersAsync().Within();
        WorkerPoolStatistics statistics = pool.GetStatistics();
        (statistics.Succeeded + statistics.Canceled).Should().Be(3, "jobs 0, 1 and 2 were pulled; job 3 never was");
    }

    [Fact]
    public async Task StreamAsync_SourceCurrentThrows_EnumerationEndsWithThatException()
    {
        var error = new FormatException("bad record 3");
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));

        Task<List<JobResult<int, int>>> consume = pool.StreamAsync(Sources.CurrentThrowingAt(count: 5, at: 3, error)).CollectAsync();

        (await consume.ShouldThrowAsync<FormatException>()).Should().BeSameAs(error);
    }

    [Fact]
    public async Task StreamAsync_SourceThrows_EnumerationEndsWithTheSourceException()
    {
        var error = new IOException("source failed");
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));

        Task<List<JobResult<int, int>>> consume = pool.StreamAsync(Sources.ThrowingAfter(5, error)).CollectAsync();

        (await consume.ShouldThrowAsync<IOException>()).Should().BeSameAs(error);
    }
}
