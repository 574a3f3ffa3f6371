using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>The WorkerPool meter: names, units, and counts that match the JobResults exactly.</summary>
public sealed class MetricsTests : PoolTest, IDisposable
{
    private readonly string _poolName = "metrics-" + Guid.NewGuid().ToString("N");
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags, string? Caller)> _measurements = new();
    private readonly ConcurrentDictionary<string, Instrument> _instruments = new();

    public MetricsTests()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "WorkerPool")
            {
                _instruments[instrument.Name] = instrument;
                listener.EnableMeasurementEvents(instrument);
            }
        };
        // On .NET 8, Dispose leaves a listener subscribed to its instruments unless MeasurementsCompleted is set.
        _listener.MeasurementsCompleted = static (_, _) => { };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Capture(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Capture(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Capture(instrument, value, tags));
        _listener.Start();
    }

    public void Dispose() => _listener.Dispose();

    private static readonly AsyncLocal<string?> Caller = new();

    [Fact]
    public async Task WorkersActive_WorkerRetiresAfterACallersJob_RecordsItInNoCallersContext()
    {
        string poolName = _poolName + "-retire";
        var seenAtRetire = new ConcurrentQueue<string?>();
        using MeterListener listener = InstrumentListener.Start<int>("workerpool.workers.active", poolName, value =>
        {
            if (value < 0)
            {
                seenAtRetire.Enqueue(Caller.Value);
            }
        });
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { Name = poolName, MaxWorkers = 1 });

        await Task.Run(async () =>
        {
            Caller.Value = "caller A";
            (await pool.RunAsync([1, 2, 3]).Within()).Should().HaveCount(3);
        });
        await pool.WhenNoWorkersAsync().Within();

        seenAtRetire.Should().NotBeEmpty("the worker retired once the queue was empty");
        seenAtRetire.Should().AllSatisfy(value => value.Should().BeNull("a worker's own bookkeeping belongs to no caller"));
    }

    [Fact]
    public async Task JobsCompleted_WorkerTakesJobsOfAStoppedRun_CountsThemInNoCallersContext()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(
            probe.Gated<int>(job => job == 1 ? throw new InvalidOperationException("job 1 fails") : job),
            new WorkerPoolOptions { Name = _poolName, MaxWorkers = 1, ErrorMode = ErrorMode.StopOnFirstError });
        probe.Release(0);

        await Task.Run(async () =>
        {
            Caller.Value = "caller A";
            await using IAsyncEnumerator<JobResult<int, int>> stream = pool.StreamAsync([0, 1, 2, 3]).GetAsyncEnumerator();
            (await stream.MoveNextAsync().Within()).Should().BeTrue();
            await probe.Started(1).Within();
            await TestExtensions.UntilAsync(() => pool.GetStatistics().QueuedJobs == 2).Within();

            // Job 1's failure stops the run. The consumer is not reading, so nothing takes jobs 2 and 3 back: the worker
            // takes them, and they never start.
            probe.Release(1);
            await pool.WhenNoWorkersAsync().Within();
            (await stream.MoveNextAsync().AsTask().ShouldThrowAsync<InvalidOperationException>()).Message.Should().Be("job 1 fails");
        });

        probe.StartedJobs.Should().BeEquivalentTo([0, 1]);
        var canceled = Mine("workerpool.jobs.completed").Where(m => Equals(m.Tags["workerpool.job.status"], "canceled")).ToList();
        canceled.Sum(m => m.Value).Should().Be(2, "jobs 2 and 3 never started");
        canceled.Should().AllSatisfy(m => m.Caller.Should().BeNull("the worker counts a job that never started in no caller's context"));
    }

    [Fact]
    public void Meter_Instruments_FollowOpenTelemetryNaming()
    {
        // Touch the pool type so its instruments are created and published.
        _ = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { Name = _poolName });

        _instruments.Keys.Should().Contain(
            ["workerpool.jobs.completed", "workerpool.job.duration", "workerpool.workers.active", "workerpool.jobs.queued", "workerpool.jobs.running", "workerpool.callers.waiting"]);
        foreach (Instrument instrument in _instruments.Values)
        {
            instrument.Name.Should().MatchRegex("^[a-z]+(\\.[a-z_]+)+$");
            instrument.Unit.Should().NotBeNullOrWhiteSpace();
            instrument.Description.Should().NotBeNullOrWhiteSpace();
        }

        _instruments["workerpool.job.duration"].Unit.Should().Be("s");
        _instruments["workerpool.jobs.completed"].Should().BeOfType<Counter<long>>();
        _instruments["workerpool.workers.active"].Should().BeOfType<UpDownCounter<int>>();
        _instruments["workerpool.jobs.queued"].Should().BeOfType<ObservableUpDownCounter<int>>();
        _instruments["workerpool.jobs.running"].Should().BeOfType<ObservableUpDownCounter<int>>();
        _instruments["workerpool.callers.waiting"].Should().BeOfType<ObservableUpDownCounter<int>>();
        WorkerPoolMetrics.MeterName.Should().Be("WorkerPool");
#if NET9_0_OR_GREATER
        // Instrument advice exists from .NET 9 on; the net8.0 build of the library gives none.
        ((Histogram<double>)_instruments["workerpool.job.duration"]).Advice!.HistogramBucketBoundaries.Should()
            .StartWith(0.00001).And.EndWith(300, "jobs run from microseconds to minutes");
#endif
    }

    [Fact]
    public async Task JobsCompleted_MixedOutcomes_MatchTheJobResultsExactly()
    {
        TimeSpan jobTimeout = TimeSpan.FromSeconds(1);
        var clock = new TestClock();
        var timingOut = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                await Task.Yield();
                if (job % 5 == 1)
                {
                    throw new InvalidOperationException("failed");
                }

                if (job == 7)
                {
                    timingOut.TrySetResult();
                    await Task.Delay(Timeout.Infinite, token);
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 2, JobTimeout = jobTimeout, Name = _poolName, TimeProvider = clock });

        var outcomes = new List<JobResult<int, int>>();
        Task<IReadOnlyList<JobResult<int, int>>> mixed = pool.RunAsync(Enumerable.Range(0, 40));
        await timingOut.Task.Within();
        clock.Advance(jobTimeout);
        outcomes.AddRange(await mixed.Within());

        // A cancelled run adds jobs cancelled while running and jobs that never started.
        var probe = new WorkProbe<int>();
        await using var gated = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, Name = _poolName });
        using var cts = new CancellationTokenSource();
        Task<IReadOnlyList<JobResult<int, int>>> run = gated.RunAsync(Enumerable.Range(0, 6), cts.Token);
        await probe.Started(0).Within();
        cts.Cancel();
        outcomes.AddRange((await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>()).Results);

        Dictionary<string, double> completed = Mine("workerpool.jobs.completed")
            .GroupBy(m => (string)m.Tags["workerpool.job.status"]!)
            .ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        var expected = outcomes.GroupBy(r => r.Status).ToDictionary(
            g => g.Key switch
            {
                JobStatus.Succeeded => "succeeded",
                JobStatus.Failed => "failed",
                JobStatus.TimedOut => "timed_out",
                _ => "canceled",
            },
            g => (double)g.Count());

        completed.Should().BeEquivalentTo(expected);
        expected.Keys.Should().BeEquivalentTo(["succeeded", "failed", "timed_out", "canceled"], "the check must cover every status");

        // One duration per job whose work call ran: all but the five that never started.
        Mine("workerpool.job.duration").Should().HaveCount(outcomes.Count - 5).And.OnlyContain(m => m.Value >= 0);
        Mine("workerpool.job.duration").Should().ContainSingle(m => Equals(m.Tags["workerpool.job.status"], "timed_out"))
            .Which.Value.Should().Be(jobTimeout.TotalSeconds, "the timed-out job ran for exactly JobTimeout on the pool's clock");

        // The pools' own statistics count the same outcomes.
        WorkerPoolStatistics first = pool.GetStatistics();
        WorkerPoolStatistics second = gated.GetStatistics();
        (first.Succeeded + second.Succeeded).Should().Be(outcomes.Count(r => r.Status == JobStatus.Succeeded));
        (first.Failed + second.Failed).Should().Be(outcomes.Count(r => r.Status == JobStatus.Failed));
        (first.TimedOut + second.TimedOut).Should().Be(outcomes.Count(r => r.Status == JobStatus.TimedOut));
        (first.Canceled + second.Canceled).Should().Be(outcomes.Count(r => r.Status == JobStatus.Canceled));
        second.Canceled.Should().Be(6, "one job was cancelled while running and five never started");
        (first.RunningJobs + second.RunningJobs).Should().Be(0);
    }

    [Fact]
    public async Task WorkersActive_RisesAndFallsBackToZero_WithinMaxWorkers()
    {
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                await Task.Yield();
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 3, Name = _poolName });

        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => pool.RunAsync(Enumerable.Range(0, 50)))).Within();
        await pool.WhenNoWorkersAsync().Within();

        double level = 0;
        double peak = 0;
        foreach (var m in Mine("workerpool.workers.active"))
        {
            level += m.Value;
            peak = Math.Max(peak, level);
        }

        level.Should().Be(0);
        peak.Should().BeInRange(1, 3);
    }

    [Fact]
    public async Task Gauges_WhileJobsAreHeld_ReportRunningAndQueuedJobs()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 3, Name = _poolName });
        var fifthPull = TestExtensions.NewGate();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(Sources.Counting(10, n =>
        {
            if (n == 6)
            {
                fifthPull.TrySetResult();
            }
        }));
        await Task.WhenAll(probe.Started(0), probe.Started(1), fifthPull.Task).Within();

        _listener.RecordObservableInstruments();

        Mine("workerpool.jobs.running").Last().Value.Should().Be(2);
        Mine("workerpool.jobs.queued").Last().Value.Should().Be(3);

        probe.ReleaseAll();
        await run.Within();
    }

    [Fact]
    public async Task Gauges_IdlePool_ReportedWhileLiveAndNotOnceDisposed()
    {
        var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { Name = _poolName });
        (await pool.RunAsync([1, 2]).Within()).Should().HaveCount(2);
        await pool.WhenNoWorkersAsync().Within();

        _listener.RecordObservableInstruments();
        Mine("workerpool.jobs.running").Should().ContainSingle().Which.Value.Should().Be(0);
        Mine("workerpool.jobs.queued").Should().ContainSingle().Which.Value.Should().Be(0);

        await pool.DisposeAsync().Within();
        _listener.RecordObservableInstruments();

        Mine("workerpool.jobs.running").Should().ContainSingle("a disposed pool with nothing in flight is no longer reported");
        Mine("workerpool.jobs.queued").Should().ContainSingle("a disposed pool with nothing in flight is no longer reported");
    }

    [Fact]
    public async Task Gauges_PoolDisposedWhileAJobIgnoresCancellation_StillReportsThatJob()
    {
        var probe = new WorkProbe<int>();
        var pool = new BoundedWorkerPool<int, int>(probe.GatedIgnoringCancellation(job => job), new WorkerPoolOptions { Name = _poolName, MaxWorkers = 1 });
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync([0]);
        await probe.Started(0).Within();

        Task disposed = pool.DisposeAsync().AsTask();
        _listener.RecordObservableInstruments();
        bool disposedWhenObserved = pool.GetStatistics().IsDisposed;
        probe.Release(0);
        await disposed.Within();
        await run.ShouldThrowAsync<OperationCanceledException>();

        disposedWhenObserved.Should().BeTrue();
        Mine("workerpool.jobs.running").Should().ContainSingle().Which.Value.Should().Be(1, "the disposed pool still had a job in flight");
    }

    private void Capture<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        var dictionary = new Dictionary<string, object?>();
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            dictionary[tag.Key] = tag.Value;
        }

        _measurements.Enqueue((instrument.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), dictionary, Caller.Value));
    }

    private List<(string Instrument, double Value, Dictionary<string, object?> Tags, string? Caller)> Mine(string instrument) =>
        _measurements.Where(m => m.Instrument == instrument && Equals(m.Tags.GetValueOrDefault("workerpool.name"), _poolName)).ToList();
}
