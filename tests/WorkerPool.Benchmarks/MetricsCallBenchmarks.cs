using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;

namespace WorkerPool.Benchmarks;

/// <summary>
/// The per-job metrics cost with no listener attached, isolated from the rest of the pool: exactly the calls a worker
/// makes for one finished job (see BoundedWorkerPool.Worker.cs, Record), on instruments of the same shape as the
/// WorkerPool meter's, with nobody listening. The baseline does the same work without the instruments.
/// </summary>
public class MetricsCallBenchmarks
{
    private const int CallsPerInvoke = 1_000_000;

    private static readonly Meter Meter = new("WorkerPool.Benchmarks.Unlistened");
    private static readonly Counter<long> JobsCompleted = Meter.CreateCounter<long>("jobs.completed", "{job}");
    private static readonly Histogram<double> JobDuration = Meter.CreateHistogram<double>("job.duration", "s");
    private static readonly KeyValuePair<string, object?> NameTag = new("workerpool.name", "benchmark");
    private static readonly string[] StatusNames = ["succeeded", "failed", "timed_out", "canceled"];

    private long _sink;

    [Benchmark(Baseline = true, OperationsPerInvoke = CallsPerInvoke, Description = "per job: no instrument calls")]
    public long WithoutInstruments()
    {
        long sink = 0;
        for (int i = 0; i < CallsPerInvoke; i++)
        {
            sink += StatusNames[i & 3].Length;
        }

        return _sink = sink;
    }

    [Benchmark(OperationsPerInvoke = CallsPerInvoke, Description = "per job: pool's instrument calls, no listener")]
    public long WithInstrumentsNoListener()
    {
        long sink = 0;
        for (int i = 0; i < CallsPerInvoke; i++)
        {
            string status = StatusNames[i & 3];
            sink += status.Length;
            if (JobsCompleted.Enabled)
            {
                JobsCompleted.Add(1, NameTag, new("workerpool.job.status", status));
            }

            if (JobDuration.Enabled)
            {
                JobDuration.Record(0.001, NameTag);
            }
        }

        return _sink = sink;
    }
}
