using BenchmarkDotNet.Attributes;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Many owners: the same total of trivial jobs, run once as a single run, and once as many concurrent runs of a few jobs
/// each. The pool is shared by all owners and keeps one bound (MaxWorkers = cores) across them. The alternatives have no
/// shared bound: each owner builds its own Parallel.ForEachAsync, Dataflow block or channel, each with one worker per core.
/// </summary>
[MemoryDiagnoser]
public class ManyOwnersBenchmarks
{
    private readonly WorkloadSettings _settings = WorkloadSettings.Current;
    private BoundedWorkerPool<int, int> _singleRunPool = null!;
    private BoundedWorkerPool<int, int> _sharedPool = null!;
    private int[] _results = [];

    [ParamsSource(nameof(JobCounts))]
    public int Jobs { get; set; }

    public static IEnumerable<int> JobCounts() => [WorkloadSettings.Current.Owners * WorkloadSettings.Current.JobsPerOwner];

    private int Owners => _settings.Owners;

    private int JobsPerOwner => _settings.JobsPerOwner;

    private int Workers => _settings.CpuWorkers;

    [GlobalSetup]
    public void Setup()
    {
        _results = new int[Jobs];
        _singleRunPool = CreatePool("single-run");
        _sharedPool = CreatePool("shared");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (BoundedWorkerPool<int, int> pool in new[] { _singleRunPool, _sharedPool })
        {
            pool.DisposeAsync().AsTask().GetAwaiter().GetResult();
            WorkerPoolStatistics statistics = pool.GetStatistics();
            if (statistics.Succeeded > 0)
            {
                Findings.Add(
                    $"Many owners, pool '{pool.Name}': PeakWorkers {statistics.PeakWorkers} (MaxWorkers {Workers}), " +
                    $"{statistics.Succeeded:N0} jobs succeeded, {statistics.Failed + statistics.Canceled + statistics.TimedOut} did not.");
            }
        }
    }

    [Benchmark(Baseline = true, Description = "Parallel.ForEachAsync, 1 run")]
    public Task ParallelSingle() => TrivialContenders.ParallelForEachAsync(0, Jobs, _results, Workers);

    [Benchmark(Description = "Parallel.ForEachAsync, many owners")]
    public Task ParallelMany() =>
        ForEachOwner(first => TrivialContenders.ParallelForEachAsync(first, JobsPerOwner, _results, Workers));

    [Benchmark(Description = "Pool RunAsync, 1 run")]
    public async Task<int> PoolSingle()
    {
        IReadOnlyList<JobResult<int, int>> results = await _singleRunPool.RunAsync(Enumerable.Range(0, Jobs));
        return results.Count;
    }

    [Benchmark(Description = "Pool RunAsync, many owners")]
    public Task PoolMany() => ForEachOwner(first => _sharedPool.RunAsync(Enumerable.Range(first, JobsPerOwner)));

    [Benchmark(Description = "Dataflow TransformBlock, 1 run")]
    public Task DataflowSingle() =>
        TrivialContenders.DataflowAsync(0, Jobs, _results, Workers, _settings.QueueCapacity);

    [Benchmark(Description = "Dataflow TransformBlock, many owners")]
    public Task DataflowMany() =>
        ForEachOwner(first => TrivialContenders.DataflowAsync(first, JobsPerOwner, _results, Workers, _settings.QueueCapacity));

    [Benchmark(Description = "Bounded Channel + readers, 1 run")]
    public Task ChannelSingle() =>
        TrivialContenders.ChannelAsync(0, Jobs, _results, Workers, _settings.QueueCapacity, TrivialContenders.PoolWork);

    [Benchmark(Description = "Bounded Channel + readers, many owners")]
    public Task ChannelMany() =>
        ForEachOwner(first =>
            TrivialContenders.ChannelAsync(first, JobsPerOwner, _results, Workers, _settings.QueueCapacity, TrivialContenders.PoolWork));

    /// <summary>Starts every owner at once (owner <c>o</c> runs jobs <c>o * JobsPerOwner ..</c>) and waits for all of them.</summary>
    private Task ForEachOwner(Func<int, Task> runOwner)
    {
        var owners = new Task[Owners];
        for (int owner = 0; owner < owners.Length; owner++)
        {
            owners[owner] = runOwner(owner * JobsPerOwner);
        }

        return Task.WhenAll(owners);
    }

    private BoundedWorkerPool<int, int> CreatePool(string name) => new(
        TrivialContenders.PoolWork,
        new WorkerPoolOptions { MaxWorkers = Workers, QueueCapacity = _settings.QueueCapacity, Name = name });
}
