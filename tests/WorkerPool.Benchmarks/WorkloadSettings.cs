namespace WorkerPool.Benchmarks;

/// <summary>
/// Every workload parameter, in one place. <see cref="Full"/> holds the sizes the results in docs/benchmarks.md are
/// quoted for; <see cref="Quick"/> shrinks only what it must to finish the whole suite in a few minutes on two cores.
/// </summary>
internal sealed record WorkloadSettings
{
    /// <summary>The sizes of a full run.</summary>
    public static WorkloadSettings Full { get; } = new()
    {
        Mode = "full",
        OverheadJobs = 1_000_000,
    };

    /// <summary>The sizes of a quick run (<c>--quick</c>).</summary>
    public static WorkloadSettings Quick { get; } = Full with
    {
        Mode = "quick",
        OverheadJobs = 100_000,

        // 20 rounds of LatencyWorkers delays instead of 100: a Task.Delay(1) can last several milliseconds.
        LatencyJobs = 1_280,
    };

    /// <summary>
    /// The settings of this process. Program sets it before any benchmark runs; the benchmarks run in this same
    /// process (see <see cref="BenchmarkConfig"/>), so they read the value Program chose.
    /// </summary>
    public static WorkloadSettings Current { get; set; } = Full;

    public required string Mode { get; init; }

    /// <summary>Workers for CPU-bound workloads: one per core.</summary>
    public int CpuWorkers { get; init; } = Environment.ProcessorCount;

    /// <summary>Queue bound shared by every bounded contender (pool QueueCapacity, Dataflow BoundedCapacity, channel capacity).</summary>
    public int QueueCapacity { get; init; } = 1024;

    /// <summary>Overhead: how many trivial synchronous jobs one operation runs.</summary>
    public required int OverheadJobs { get; init; }

    /// <summary>Latency-bound: how many jobs, each awaiting <c>Task.Delay(LatencyDelayMilliseconds)</c>.</summary>
    public int LatencyJobs { get; init; } = 6_400;

    /// <summary>Latency-bound: how many jobs wait at once.</summary>
    public int LatencyWorkers { get; init; } = 64;

    public int LatencyDelayMilliseconds { get; init; } = 1;

    /// <summary>Cancellation: how many work calls are parked on the token when it is cancelled.</summary>
    public int CancellationWorkers { get; init; } = 1_000;

    /// <summary>Many owners: how many concurrent runs share one pool.</summary>
    public int Owners { get; init; } = 1_000;

    /// <summary>Many owners: how many trivial jobs each owner runs.</summary>
    public int JobsPerOwner { get; init; } = 100;

    /// <summary>
    /// Scale: the sizes of the lazy job sources, each streamed in a fresh process. Both modes use the same sizes: below
    /// about a million jobs the peak working set mostly shows how far the GC let generation 0 grow before its first
    /// collection, not how memory grows with the number of jobs.
    /// </summary>
    public IReadOnlyList<int> ScaleJobs { get; init; } = [1_000_000, 10_000_000];
}
