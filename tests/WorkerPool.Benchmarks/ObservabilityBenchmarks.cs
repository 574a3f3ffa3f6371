using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace WorkerPool.Benchmarks;

/// <summary>
/// What logging and metrics cost on the per-job path.
/// Logging: every job fails, so every job reaches the JobFailed event (Debug). With Debug disabled, the rows must match
/// the no-logger row in time and in allocated bytes: no message is formatted and nothing is boxed.
/// Metrics: trivial jobs, with and without a MeterListener on the WorkerPool meter.
/// </summary>
[MemoryDiagnoser]
public class ObservabilityBenchmarks
{
    private readonly WorkloadSettings _settings = WorkloadSettings.Current;
    private BoundedWorkerPool<int, int> _noLogger = null!;
    private BoundedWorkerPool<int, int> _debugDisabled = null!;
    private BoundedWorkerPool<int, int> _debugEnabled = null!;
    private BoundedWorkerPool<int, int> _metricsPool = null!;
    private CountingLoggerFactory _enabledFactory = null!;
    private MeterListener? _listener;

    [ParamsSource(nameof(JobCounts))]
    public int Jobs { get; set; }

    public static IEnumerable<int> JobCounts() => [WorkloadSettings.Current.OverheadJobs / 10];

    [GlobalSetup]
    public void Setup()
    {
        var options = new WorkerPoolOptions { MaxWorkers = _settings.CpuWorkers, QueueCapacity = _settings.QueueCapacity, Name = "observability" };
        _noLogger = new BoundedWorkerPool<int, int>(FailingWork, options, NullLoggerFactory.Instance);
        _debugDisabled = new BoundedWorkerPool<int, int>(FailingWork, options, new CountingLoggerFactory(LogLevel.Information));
        _enabledFactory = new CountingLoggerFactory(LogLevel.Debug);
        _debugEnabled = new BoundedWorkerPool<int, int>(FailingWork, options, _enabledFactory);
        _metricsPool = new BoundedWorkerPool<int, int>(TrivialContenders.PoolWork, options);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _listener?.Dispose();
        foreach (BoundedWorkerPool<int, int> pool in new[] { _noLogger, _debugDisabled, _debugEnabled, _metricsPool })
        {
            pool.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    [Benchmark(Baseline = true, Description = "failing jobs, no logger")]
    public Task<IReadOnlyList<JobResult<int, int>>> NoLogger() => _noLogger.RunAsync(Enumerable.Range(0, Jobs));

    [Benchmark(Description = "failing jobs, logger with Debug disabled")]
    public Task<IReadOnlyList<JobResult<int, int>>> DebugDisabled() => _debugDisabled.RunAsync(Enumerable.Range(0, Jobs));

    [Benchmark(Description = "failing jobs, logger with Debug enabled")]
    public Task<IReadOnlyList<JobResult<int, int>>> DebugEnabled() => _debugEnabled.RunAsync(Enumerable.Range(0, Jobs));

    [Benchmark(Description = "trivial jobs, no meter listener")]
    public Task<IReadOnlyList<JobResult<int, int>>> NoListener()
    {
        StopListening();
        return _metricsPool.RunAsync(Enumerable.Range(0, Jobs));
    }

    [Benchmark(Description = "trivial jobs, meter listener attached")]
    public Task<IReadOnlyList<JobResult<int, int>>> WithListener()
    {
        StartListening();
        return _metricsPool.RunAsync(Enumerable.Range(0, Jobs));
    }

    // A new exception per job: awaiting one shared instance over and over would append to its stack trace each time.
    private static ValueTask<int> FailingWork(int job, CancellationToken cancellationToken) =>
        ValueTask.FromException<int>(new InvalidOperationException("job failed"));

    private void StartListening()
    {
        if (_listener is not null)
        {
            return;
        }

        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "WorkerPool")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
        _listener.SetMeasurementEventCallback<int>(static (_, _, _, _) => { });
        _listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
        _listener.Start();
    }

    private void StopListening()
    {
        _listener?.Dispose();
        _listener = null;
    }

    /// <summary>A logger that only counts what it is asked to write at or above its minimum level.</summary>
    private sealed class CountingLoggerFactory(LogLevel minimum) : ILoggerFactory, ILogger
    {
        private long _written;

        public long Written => Interlocked.Read(ref _written);

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                _ = formatter(state, exception);
                Interlocked.Increment(ref _written);
            }
        }
    }
}
