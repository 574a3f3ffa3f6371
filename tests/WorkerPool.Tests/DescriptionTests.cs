using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>What the pool writes for people: exception messages and the text of its diagnostic records.</summary>
public sealed class DescriptionTests : PoolTest
{
    [Fact]
    public async Task CanceledRun_MessageNamesThePoolAndTheAttachedOutcomes()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, Name = "orders" });
        using var cts = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, 3), cts.Token);
        await probe.Started(0).Within();
        cts.Cancel();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Message.Should().Be("The run on pool 'orders' was cancelled; 3 outcome(s) are attached.");
        canceled.CancellationToken.Should().Be(cts.Token);
    }

    [Fact]
    public async Task RunCanceledByDisposal_MessageSaysSo()
    {
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, Name = "orders" });

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Enumerable.Range(0, 2));
        await probe.Started(0).Within();
        await pool.DisposeAsync().AsTask().Within();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Message.Should().Be("The run on pool 'orders' was cancelled because the pool was disposed; 2 outcome(s) are attached.");
    }

    [Theory]
    [InlineData(false, "Job #0 of pool 'orders'")]
    [InlineData(true, "Job #0 (order 5) of pool 'orders'")]
    public async Task TimedOutJob_ErrorNamesTheJobThePoolAndTheTimeout(bool withFormatter, string named)
    {
        TimeSpan jobTimeout = TimeSpan.FromMilliseconds(20);
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        var options = new WorkerPoolOptions { JobTimeout = jobTimeout, Name = "orders", TimeProvider = clock };
        if (withFormatter)
        {
            options.JobFormatter = job => $"order {job}";
        }

        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), options);

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([5]);
        await probe.Started(5).Within();
        clock.Advance(jobTimeout);
        JobResult<int, int> result = (await run.Within()).Single();

        result.Status.Should().Be(JobStatus.TimedOut);
        result.Error.Should().BeOfType<TimeoutException>()
            .Which.Message.Should().Be($"{named} exceeded its timeout of {jobTimeout} and was cancelled.");
        result.Error!.InnerException.Should().BeAssignableTo<OperationCanceledException>();
    }

    [Fact]
    public void JobResult_ToString_ShowsIndexStatusDurationAndError()
    {
        var succeeded = new JobResult<int, int>(3, 30, JobStatus.Succeeded, 60, null, TimeSpan.FromMilliseconds(1.5));
        var failed = new JobResult<int, int>(4, 40, JobStatus.Failed, 0, new InvalidOperationException("boom"), TimeSpan.FromMilliseconds(2));

        succeeded.ToString().Should().Be($"#3 Succeeded ({1.5:0.###} ms)");
        failed.ToString().Should().Be("#4 Failed (2 ms): InvalidOperationException: boom");
    }

    [Fact]
    public void RunningJobAndLiveWorker_ToString_DescribeWhatIsRunning()
    {
        var job = new RunningJobInfo { PoolName = "orders", RunId = 3, Index = 7, Job = "order-7", Elapsed = TimeSpan.FromMilliseconds(1200) };
        var described = job with { JobText = "order 7 of ACME" };
        var busy = new LiveWorkerInfo { PoolName = "orders", WorkerId = 1, Age = TimeSpan.FromMilliseconds(5000), RunningJob = job };
        var idle = busy with { RunningJob = null };

        job.ToString().Should().Be("orders run 3 job #7 running for 1200 ms", "a job's contents stay out of messages by default");
        described.ToString().Should().Be("orders run 3 job #7 (order 7 of ACME) running for 1200 ms");
        busy.ToString().Should().Be("orders worker 1 (alive 5000 ms) running run 3 job #7 for 1200 ms");
        (busy with { RunningJob = described }).ToString().Should().Be("orders worker 1 (alive 5000 ms) running run 3 job #7 (order 7 of ACME) for 1200 ms");
        idle.ToString().Should().Be("orders worker 1 (alive 5000 ms) between jobs");
    }

    [Fact]
    public void ShutdownTimeoutException_StuckJobsOnly_MessageNamesEachJobAndNoSource()
    {
        var job = new RunningJobInfo { PoolName = "orders", RunId = 1, Index = 3, Elapsed = TimeSpan.FromMilliseconds(7000) };

        new WorkerPoolShutdownTimeoutException("orders", TimeSpan.FromSeconds(5), [job], innerException: null).Message.Should().Be(
            "1 job(s) of pool 'orders' ignored cancellation for longer than the shutdown timeout of 00:00:05: run 1 job #3 running for 7000 ms;");
    }

    [Fact]
    public void ShutdownTimeoutException_JobsOfTwoRuns_MessageTellsThemApartByRunAndText()
    {
        var first = new RunningJobInfo { PoolName = "orders", RunId = 1, Index = 0, Elapsed = TimeSpan.FromMilliseconds(272) };
        var second = new RunningJobInfo { PoolName = "orders", RunId = 2, Index = 0, JobText = "order 7", Elapsed = TimeSpan.FromMilliseconds(272) };

        new WorkerPoolShutdownTimeoutException("orders", TimeSpan.FromSeconds(5), [first, second], innerException: null).Message.Should().Be(
            "2 job(s) of pool 'orders' ignored cancellation for longer than the shutdown timeout of 00:00:05: "
            + "run 1 job #0 running for 272 ms; run 2 job #0 (order 7) running for 272 ms;");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CanceledSubmission_MessageSpeaksOfTheSubmittedJob(bool byDisposal)
    {
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, Name = "orders" });
        using var cts = new CancellationTokenSource();

        Task<int> submitted = pool.SubmitAsync(5, cts.Token).AsTask();
        await probe.Started(5).Within();
        if (byDisposal)
        {
            await pool.DisposeAsync().AsTask().Within();
        }
        else
        {
            await cts.CancelAsync();
        }

        var canceled = await submitted.ShouldThrowAsync<OperationCanceledException>();
        canceled.Message.Should().Be(byDisposal
            ? "The job submitted to pool 'orders' was cancelled because the pool was disposed."
            : "The job submitted to pool 'orders' was cancelled.");

        // Logs and traces print an exception's type: it reads as a plain name, not a generic type's nested class.
        canceled.GetType().FullName.Should().Be("WorkerPool.SubmissionCanceledException");
        await pool.DisposeAsync();
    }

    [Fact]
    public void ShutdownTimeoutException_StuckSourceAndStuckJob_MessageNamesBothAsSentences()
    {
        var job = new RunningJobInfo { PoolName = "orders", RunId = 1, Index = 3, Elapsed = TimeSpan.FromMilliseconds(7000) };

        new WorkerPoolShutdownTimeoutException("orders", TimeSpan.FromSeconds(5), [job], sourcesStuck: 1, heldOutsideJobs: false, innerException: null).Message.Should().Be(
            "1 job source(s) of pool 'orders' ignored cancellation for longer than the shutdown timeout of 00:00:05, and still hold their run. "
            + "1 job(s) of pool 'orders' ignored cancellation for longer than the shutdown timeout of 00:00:05: run 1 job #3 running for 7000 ms;");
    }

    [Fact]
    public async Task UnnamedPools_EachGetsItsOwnWorkerPoolName()
    {
        await using var first = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
        await using var second = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));

        first.Name.Should().MatchRegex("^WorkerPool-[0-9]+$");
        second.Name.Should().MatchRegex("^WorkerPool-[0-9]+$").And.NotBe(first.Name);
    }

    [Fact]
    public void CanceledException_Constructors_KeepMessageInnerExceptionAndResults()
    {
        var inner = new InvalidOperationException("inner");
        JobResult<int, int>[] results = [new(0, 1, JobStatus.Canceled, 0, null, TimeSpan.Zero)];
        using var cts = new CancellationTokenSource();

        new WorkerPoolCanceledException<int, int>().Message.Should().Be("The run was cancelled.");
        new WorkerPoolCanceledException<int, int>().Results.Should().BeEmpty();
        new WorkerPoolCanceledException<int, int>("m").Message.Should().Be("m");
        var withInner = new WorkerPoolCanceledException<int, int>("m", inner);
        withInner.InnerException.Should().BeSameAs(inner);
        withInner.Results.Should().BeEmpty();
        var withResults = new WorkerPoolCanceledException<int, int>("m", results, cts.Token);
        withResults.Results.Should().BeSameAs(results);
        withResults.CancellationToken.Should().Be(cts.Token);
        FluentActions.Invoking(() => new WorkerPoolCanceledException<int, int>("m", null!, cts.Token)).Should().Throw<ArgumentNullException>();
    }
}
