using BenchmarkDotNet.Attributes;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Overhead: N trivial synchronous jobs, one worker per core. The work costs nothing, so the time and the allocations
/// are those of the machinery around it.
/// </summary>
[MemoryDiagnoser]
public class OverheadBenchmarks
{
    private readonly WorkloadSettings _settings = WorkloadSettings.Current;
    private BoundedWorkerPool<int, int> _pool = null!;
    private int[] _results = [];

    [ParamsSource(nameof(JobCounts))]
    public int Jobs { get; set; }

    public static IEnumerable<int> JobCounts() => [WorkloadSettings.Current.OverheadJobs];

    [GlobalSetup]
    public void Setup()
    {
        _results = new int[Jobs];
        _pool = new BoundedWorkerPool<int, int>(
            TrivialContenders.PoolWork,
            new WorkerPoolOptions { MaxWorkers = _settings.CpuWorkers, QueueCapacity = _settings.QueueCapacity, Name = "overhead" });
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true, Description = "Parallel.ForEachAsync, sync lambda")]
    public Task ParallelForEach() => TrivialContenders.ParallelForEachAsync(0, Jobs, _results, _settings.CpuWorkers);

    [Benchmark(Description = "Parallel.ForEachAsync, async lambda")]
    public Task ParallelForEachAwaiting() =>
        TrivialContenders.ParallelForEachAwaitingAsync(0, Jobs, _results, _settings.CpuWorkers, TrivialContenders.PoolWork);

    /// <summary>Not a contender: the same loop without Parallel.ForEachAsync's per-element lock, to show what that lock costs.</summary>
    [Benchmark(Description = "Parallel.ForAsync (no shared enumerator)")]
    public Task ParallelFor() => TrivialContenders.ParallelForAsync(0, Jobs, _results, _settings.CpuWorkers);

    [Benchmark(Description = "Pool RunAsync")]
    public async Task<int> PoolRun()
    {
        IReadOnlyList<JobResult<int, int>> results = await _pool.RunAsync(Enumerable.Range(0, Jobs));
        return results.Count;
    }

    [Benchmark(Description = "Pool StreamAsync")]
    public async Task<long> PoolStream()
    {
        long sum = 0;
        await foreach (JobResult<int, int> result in _pool.StreamAsync(Enumerable.Range(0, Jobs)))
        {
            sum += result.Value;
        }

        return sum;
    }

    [Benchmark(Description = "Dataflow TransformBlock")]
    public Task Dataflow() => TrivialContenders.DataflowAsync(0, Jobs, _results, _settings.CpuWorkers, _settings.QueueCapacity);

    [Benchmark(Description = "Bounded Channel + readers")]
    public Task ChannelReaders() =>
        TrivialContenders.ChannelAsync(0, Jobs, _results, _settings.CpuWorkers, _settings.QueueCapacity, TrivialContenders.PoolWork);
}
