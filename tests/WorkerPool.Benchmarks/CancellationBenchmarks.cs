using System.Threading.Channels;
using System.Threading.Tasks.Dataflow;
using BenchmarkDotNet.Attributes;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Cancellation: every worker is parked in <c>Task.Delay(Timeout.Infinite, token)</c>. Each iteration's setup starts
/// the run and waits until all work calls are parked; the measured part is from <c>cts.Cancel()</c> until the run's task
/// has completed and the last work call has exited. For each contender it also records how many work calls were still
/// running at the moment the run's task completed (reported in the findings after the run).
/// </summary>
/// <remarks>
/// One invocation per iteration: the iteration setup parks the work, and one cancellation consumes it. These settings
/// override the mode's job, in both modes: an iteration is cheap, so it can afford more of them.
/// </remarks>
[MemoryDiagnoser]
[InvocationCount(1)]
[WarmupCount(3)]
[IterationCount(25)]
public class CancellationBenchmarks
{
    private static readonly TimeSpan SetupTimeout = TimeSpan.FromSeconds(30);

    private readonly WorkloadSettings _settings = WorkloadSettings.Current;
    private readonly List<int> _stillRunningAtCompletion = new(capacity: 1_000);
    private BoundedWorkerPool<int, int> _pool = null!;
    private ParkingLot _lot = null!;
    private CancellationTokenSource _cts = null!;
    private Task _run = Task.CompletedTask;
    private string _contender = "";

    [ParamsSource(nameof(WorkerCounts))]
    public int Workers { get; set; }

    public static IEnumerable<int> WorkerCounts() => [WorkloadSettings.Current.CancellationWorkers];

    [GlobalSetup]
    public void Setup() => _pool = new BoundedWorkerPool<int, int>(
        (x, token) => new ValueTask<int>(_lot.ParkAsync(x, token)),
        new WorkerPoolOptions { MaxWorkers = Workers, QueueCapacity = Math.Max(Workers, _settings.QueueCapacity), Name = "cancellation" });

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.DisposeAsync().AsTask().GetAwaiter().GetResult();
        if (_stillRunningAtCompletion.Count > 0)
        {
            Findings.Add(
                $"Cancellation, {_contender}: work calls still running when the run's task completed: " +
                $"min {_stillRunningAtCompletion.Min()}, max {_stillRunningAtCompletion.Max()} of {Workers}, " +
                $"over {_stillRunningAtCompletion.Count} cancellations.");
        }
    }

    [IterationCleanup]
    public void IterationCleanup() => _cts.Dispose();

    /// <summary>The job wrapped as the pool's is: an async lambda would add a rethrow of its own per job.</summary>
    [IterationSetup(Target = nameof(ParallelForEach))]
    public void StartParallelForEach() => Start("Parallel.ForEachAsync", token => Parallel.ForEachAsync(
        Enumerable.Range(0, Workers),
        new ParallelOptions { MaxDegreeOfParallelism = Workers, CancellationToken = token },
        (x, ct) => new ValueTask(_lot.ParkAsync(x, ct))));

    [IterationSetup(Target = nameof(Pool))]
    public void StartPool() => Start("Pool RunAsync", token => _pool.RunAsync(Enumerable.Range(0, Workers), token));

    [IterationSetup(Target = nameof(Dataflow))]
    public void StartDataflow() => Start("Dataflow TransformBlock", token =>
    {
        var block = new TransformBlock<int, int>(
            x => _lot.ParkAsync(x, token),
            new ExecutionDataflowBlockOptions { MaxDegreeOfParallelism = Workers, BoundedCapacity = Workers, CancellationToken = token });
        for (int x = 0; x < Workers; x++)
        {
            if (!block.Post(x))
            {
                throw new InvalidOperationException("The block declined a job.");
            }
        }

        block.Complete();
        return block.Completion;
    });

    [IterationSetup(Target = nameof(ChannelReaders))]
    public void StartChannelReaders() => Start("Bounded Channel + readers", token =>
    {
        var channel = Channel.CreateBounded<int>(
            new BoundedChannelOptions(Math.Max(Workers, _settings.QueueCapacity)) { SingleWriter = true });
        var readers = new Task[Workers];
        for (int i = 0; i < readers.Length; i++)
        {
            readers[i] = Task.Run(() => ReadAsync(channel.Reader, token), token);
        }

        for (int x = 0; x < Workers; x++)
        {
            if (!channel.Writer.TryWrite(x))
            {
                throw new InvalidOperationException("The channel declined a job.");
            }
        }

        channel.Writer.Complete();
        return Task.WhenAll(readers);
    });

    [Benchmark(Baseline = true, Description = "Parallel.ForEachAsync")]
    public Task ParallelForEach() => CancelAndWaitAsync<OperationCanceledException>();

    /// <summary>The pool reports a cancelled run with a WorkerPoolCanceledException carrying every outcome.</summary>
    [Benchmark(Description = "Pool RunAsync")]
    public Task Pool() => CancelAndWaitAsync<WorkerPoolCanceledException<int, int>>();

    [Benchmark(Description = "Dataflow TransformBlock")]
    public Task Dataflow() => CancelAndWaitAsync<OperationCanceledException>();

    [Benchmark(Description = "Bounded Channel + readers")]
    public Task ChannelReaders() => CancelAndWaitAsync<OperationCanceledException>();

    /// <summary>Starts a run of parked work and returns once every work call is parked.</summary>
    private void Start(string contender, Func<CancellationToken, Task> startRun)
    {
        _contender = contender;
        _lot = new ParkingLot(Workers);
        _cts = new CancellationTokenSource();
        _run = startRun(_cts.Token);
        _lot.AllEntered.WaitAsync(SetupTimeout).GetAwaiter().GetResult();
    }

    /// <summary>
    /// The measured part: cancel, wait for the run's task (which ends with <typeparamref name="TCanceled"/>), note how
    /// many work calls are still inside at that moment, then wait for the last one to exit.
    /// </summary>
    private async Task CancelAndWaitAsync<TCanceled>()
        where TCanceled : Exception
    {
        _cts.Cancel();
        try
        {
            await _run;
        }
        catch (TCanceled)
        {
        }

        _stillRunningAtCompletion.Add(_lot.StillRunning);
        await _lot.AllExited;
    }

    private async Task ReadAsync(ChannelReader<int> reader, CancellationToken token)
    {
        while (await reader.WaitToReadAsync(token))
        {
            while (reader.TryRead(out int x))
            {
                await _lot.ParkAsync(x, token);
            }
        }
    }
}
