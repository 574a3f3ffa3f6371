using System.Diagnostics;

namespace LeakDemo;

/// <summary>
/// Samples live sub-jobs, pool workers, managed heap and working set on a background task at a fixed interval,
/// from <see cref="Start"/> until <see cref="StopAsync"/>.
/// </summary>
/// <remarks>
/// Ownership: <see cref="Start"/> starts the sampling task; <see cref="StopAsync"/> (or <see cref="DisposeAsync"/>)
/// ends it by disposing the timer, which makes its pending tick return <see langword="false"/>, and awaits it.
/// </remarks>
internal sealed class ProcessSampler : IAsyncDisposable
{
    private readonly List<ProcessSample> _samples = [];
    private readonly Stopwatch _clock;
    private readonly Func<int> _liveSubJobs;
    private readonly Func<int> _activeWorkers;
    private readonly PeriodicTimer _timer;
    private Task? _loop;

    private ProcessSampler(Stopwatch clock, Func<int> liveSubJobs, Func<int> activeWorkers, TimeSpan interval)
    {
        _clock = clock;
        _liveSubJobs = liveSubJobs;
        _activeWorkers = activeWorkers;
        _timer = new PeriodicTimer(interval);
    }

    /// <summary>Takes a first sample now and starts sampling every <paramref name="interval"/>.</summary>
    public static ProcessSampler Start(Stopwatch clock, Func<int> liveSubJobs, Func<int> activeWorkers, TimeSpan interval)
    {
        var sampler = new ProcessSampler(clock, liveSubJobs, activeWorkers, interval);
        sampler.Sample();
        sampler._loop = Task.Run(sampler.LoopAsync);
        return sampler;
    }

    /// <summary>Stops sampling, takes a last sample, and returns all of them in time order.</summary>
    public async Task<IReadOnlyList<ProcessSample>> StopAsync()
    {
        await DisposeAsync();
        Sample();
        return _samples;
    }

    public async ValueTask DisposeAsync()
    {
        _timer.Dispose();
        if (_loop is not null)
        {
            await _loop;
        }
    }

    private async Task LoopAsync()
    {
        while (await _timer.WaitForNextTickAsync())
        {
            Sample();
        }
    }

    // Called by the loop, or by Start and StopAsync when the loop is not running: one writer at a time.
    private void Sample() => _samples.Add(new ProcessSample(
        _clock.Elapsed,
        _liveSubJobs(),
        _activeWorkers(),
        GC.GetTotalMemory(forceFullCollection: false),
        Environment.WorkingSet));
}
