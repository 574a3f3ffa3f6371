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
}
