using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

public sealed class SmokeTests
{
    [Fact]
    public async Task RunAsync_SimpleJobs_ReturnsEveryResultInOrder()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Wrap<int>((job, _) => ValueTask.FromResult(job * 2)),
            new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 2 });

        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, 100));

        probe.Executing.Should().Be(0);
        results.Select(r => r.Value).Should().Equal(Enumerable.Range(0, 100).Select(i => i * 2));
        results.Select(r => r.Index).Should().Equal(Enumerable.Range(0, 100).Select(i => (long)i));
        results.Should().OnlyContain(r => r.Status == JobStatus.Succeeded);
    }
}
