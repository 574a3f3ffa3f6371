using System.Threading.Channels;
using System.Threading.Tasks.Dataflow;
using BenchmarkDotNet.Attributes;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Latency-bound: every job awaits <c>Task.Delay(1)</c>, and many of them wait at once. The ideal is
/// jobs / workers x (one Task.Delay(1)), which the last benchmark of this class measures in the same process.
/// </summary>
[MemoryDiagnoser]
public class LatencyBenchmarks
{
    private readonly WorkloadSettings _settings = WorkloadSettings.Current;
    private BoundedWorkerPool<int, int> _pool = null!;

    [ParamsSource(nameof(JobCounts))]
    public int Jobs { get; set; }

    public static IEnumerable<int> JobCounts() => [WorkloadSettings.Current.LatencyJobs];

    private int Workers => _settings.LatencyWorkers;

    [GlobalSetup]
    public void Setup() => _pool = new BoundedWorkerPool<int, int>(
        (x, _) => WorkAsync(x),
        new WorkerPoolOptions { MaxWorkers = Workers, QueueCapacity = _settings.QueueCapacity, Name = "latency" });

    [GlobalCleanup]
    public void Cleanup() => _pool.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true, Description = "Parallel.ForEachAsync")]
    public Task ParallelForEach() => Parallel.ForEachAsync(
        Enumerable.Range(0, Jobs),
        new ParallelOptions { MaxDegreeOfParallelism = Workers },
        async (x, _) => await WorkAsync(x));

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
    public async Task<long> Dataflow()
    {
        var block = new TransformBlock<int, int>(
            x => WorkAsync(x).AsTask(),
            new ExecutionDataflowBlockOptions { MaxDegreeOfParallelism = Workers, BoundedCapacity = _settings.QueueCapacity });
        Task<long> consumer = SumOutputsAsync(block);
        for (int x = 0; x < Jobs; x++)
        {
            await block.SendAsync(x);
        }

        block.Complete();
        long sum = await consumer;
        await block.Completion;
        return sum;
    }

    [Benchmark(Description = "Bounded Channel + readers")]
    public async Task ChannelReaders()
    {
        var channel = Channel.CreateBounded<int>(
            new BoundedChannelOptions(_settings.QueueCapacity) { SingleWriter = true });
        var readers = new Task[Workers];
        for (int i = 0; i < readers.Length; i++)
        {
            readers[i] = Task.Run(() => ReadAsync(channel.Reader));
        }

        for (int x = 0; x < Jobs; x++)
        {
            await channel.Writer.WriteAsync(x);
        }

        channel.Writer.Complete();
        await Task.WhenAll(readers);
    }

    /// <summary>The unit the ideal is made of: one <c>Task.Delay(1)</c> on its own.</summary>
    [Benchmark(Description = "One Task.Delay(1), alone")]
    public Task SingleDelay() => Task.Delay(_settings.LatencyDelayMilliseconds);

    private async ValueTask<int> WorkAsync(int x)
    {
        await Task.Delay(_settings.LatencyDelayMilliseconds);
        return x;
    }

    private static async Task<long> SumOutputsAsync(TransformBlock<int, int> block)
    {
        long sum = 0;
        while (await block.OutputAvailableAsync())
        {
            while (block.TryReceive(out int value))
            {
                sum += value;
            }
        }

        return sum;
    }

    private async Task ReadAsync(ChannelReader<int> reader)
    {
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out int x))
            {
                await WorkAsync(x);
            }
        }
    }
}
