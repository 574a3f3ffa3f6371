using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Runs;

/// <summary>The enumerator of <c>StreamAsync</c>: one pending move at a time, and nothing after its end.</summary>
public sealed class StreamAsyncTests : PoolTest
{
    [Fact]
    public async Task MoveNextAsync_AnotherMoveIsPending_ThrowsInvalidOperation()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1 });
        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([0]).GetAsyncEnumerator();
        ValueTask<bool> pending = stream.MoveNextAsync();
        await probe.Started(0).Within();

        Func<ValueTask<bool>> second = stream.MoveNextAsync;

        second.Should().Throw<InvalidOperationException>().WithMessage("A MoveNextAsync call on this stream is still pending.");
        probe.Release(0);
        (await pending.Within()).Should().BeTrue();
        stream.Current.Value.Should().Be(0);
        (await stream.MoveNextAsync().Within()).Should().BeFalse();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task MoveNextAsync_JobThrowsItsOwnCancellationInStopOnFirstError_EndsFaultedWithThatException(bool whileTheMoveWaits)
    {
        var own = new OperationCanceledException("the job's own reason");
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Gated<int>(job => throw own),
            new WorkerPoolOptions { MaxWorkers = 1, ErrorMode = ErrorMode.StopOnFirstError });
        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([1]).GetAsyncEnumerator();
        Task<bool> move;
        if (whileTheMoveWaits)
        {
            move = stream.MoveNextAsync().AsTask();
            await probe.Started(1).Within();
            probe.Release(1);
        }
        else
        {
            probe.Release(1);
            move = stream.MoveNextAsync().AsTask();
        }

        await Task.WhenAny(move).Within();

        move.Status.Should().Be(TaskStatus.Faulted, "the job's own cancellation is a failure, as RunAsync's task reports it");
        move.Exception!.InnerException.Should().BeSameAs(own);
    }

    [Fact]
    public async Task MoveNextAsync_CallerCancelsWhileTheMoveWaits_EndsCanceled()
    {
        var probe = new WorkProbe<int>();
        using var cts = new CancellationTokenSource();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1 });
        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([1], cts.Token).GetAsyncEnumerator();
        Task<bool> move = stream.MoveNextAsync().AsTask();
        await probe.Started(1).Within();

        await cts.CancelAsync();
        await Task.WhenAny(move).Within();

        move.Status.Should().Be(TaskStatus.Canceled);
        (await move.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>()).Should().NotBeNull();
    }

    [Fact]
    public async Task MoveNextAsync_AfterTheStreamEnded_ReturnsFalseAndEndsTheRunOnce()
    {
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 1 }, logs);
        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([0]).GetAsyncEnumerator();
        (await stream.MoveNextAsync().Within()).Should().BeTrue();
        (await stream.MoveNextAsync().Within()).Should().BeFalse();

        (await stream.MoveNextAsync().Within()).Should().BeFalse();

        logs.Entries.Where(e => e.EventId.Name == "RunEnded").Should().ContainSingle();
        pool.GetStatistics().Succeeded.Should().Be(1);
    }

    [Fact]
    public async Task DisposeAsync_WhileMoveNextIsPending_TheMoveThrowsCancellationNamingTheDisposal()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, Name = "stream" });
        IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([0, 1]).GetAsyncEnumerator();
        Task<bool> pending = stream.MoveNextAsync().AsTask();
        await probe.Started(0).Within();

        Task disposal = stream.DisposeAsync().AsTask();

        var canceled = await pending.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
        canceled.Message.Should().Be("The run on pool 'stream' was cancelled because its stream's enumerator was disposed; 2 outcome(s) are attached.");
        canceled.Results.Select(r => (r.Index, r.Status)).Should().Equal((0, JobStatus.Canceled), (1, JobStatus.Canceled));
        await disposal.Within();
        (await stream.MoveNextAsync().Within()).Should().BeFalse();
        pool.GetStatistics().Should().BeEquivalentTo(new { Succeeded = 0, Canceled = 2, RunningJobs = 0 });
    }

    [Fact]
    public async Task DisposeAsync_AfterTheStreamEnded_EndsTheRunOnce()
    {
        var logs = new CapturingLoggerFactory();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 1 }, logs);
        IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([0, 1]).GetAsyncEnumerator();
        while (await stream.MoveNextAsync().Within())
        {
        }

        await stream.DisposeAsync().Within();

        logs.Entries.Where(e => e.EventId.Name == "RunEnded").Should().ContainSingle();
        pool.GetStatistics().Should().BeEquivalentTo(new { Succeeded = 2, Canceled = 0 });
    }

    [Fact]
    public async Task MoveNextAsync_AfterDisposeBeforeAnyMove_ReturnsFalseAndStartsNoRun()
    {
        var logs = new CapturingLoggerFactory();
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1 }, logs);
        IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([0, 1]).GetAsyncEnumerator();
        await stream.DisposeAsync().Within();

        (await stream.MoveNextAsync().Within()).Should().BeFalse();

        probe.Calls.Should().Be(0);
        logs.Entries.Should().NotContain(e => e.EventId.Name == "RunStarted" || e.EventId.Name == "RunEnded");
        pool.GetStatistics().Should().BeEquivalentTo(new { Succeeded = 0, Canceled = 0, QueuedJobs = 0 });
    }

    [Fact]
    public async Task MoveNextAsync_ConsumerTakesABatchOfReadyOutcomes_GivesTheirCreditsBackToTheProducer()
    {
        // A window of 6 + 2 = 8 credits, given back in batches of 8 / 4 = 2.
        var source = Sources.Counting();
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 6 });
        await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync(source).GetAsyncEnumerator();
        (await stream.MoveNextAsync().Within()).Should().BeTrue();
        // The producer has used the whole window, and the workers have published every outcome and left.
        await TestExtensions.UntilAsync(() => source.Pulled == 8 && pool.GetStatistics().ActiveWorkers == 0).Within();

        // The second outcome is ready, so the consumer does not wait: only the full batch it now holds frees the producer.
        (await stream.MoveNextAsync().Within()).Should().BeTrue();

        await TestExtensions.UntilAsync(() => source.Pulled == 10).Within();
    }
}
