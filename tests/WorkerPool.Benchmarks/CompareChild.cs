using System.Diagnostics;
using System.Globalization;

namespace WorkerPool.Benchmarks;

/// <summary>
/// The child side of <c>--compare</c>: one launch, in a fresh process. Every workload runs its contenders in rounds to
/// warm up (JIT, thread pool) for <see cref="CompareSettings.WarmUp"/>, then in measured rounds, each round running every contender once in an order shuffled anew for
/// the round (seeded by the launch and the round, so a launch can be repeated), so that no contender always runs first,
/// last, or right after the same other one. Prints one result line per contender: the median of its rounds.
/// </summary>
internal static class CompareChild
{
    public const string ChildFlag = "--compare-child";
    public const string ResultPrefix = "COMPARE\t";
    public const string ResultLine = "result";
    public const string RoundLine = "round";
    public const string InfoLine = "info";

    /// <summary>Info key: what one asynchronous SemaphoreSlim wait allocates in this process.</summary>
    public const string WaiterBytes = "waiter-bytes";

    /// <summary>The child side: <c>MODE WORKLOADS LAUNCH</c>, WORKLOADS separated by commas.</summary>
    public static int Run(string[] args)
    {
        CompareSettings settings = CompareSettings.ForChild(args[0], args[1]);
        int launch = int.Parse(args[2], CultureInfo.InvariantCulture);
        Info(WaiterBytes, SemaphoreWaiter.MeasureBytes());
        foreach (string workload in settings.Workloads)
        {
            Action<CompareSettings, int> measure = workload switch
            {
                CompareWorkloads.Trivial => CompareWorkloads.MeasureTrivial,
                CompareWorkloads.Submit => CompareWorkloads.MeasureSubmit,
                CompareWorkloads.Cancellation => CompareWorkloads.MeasureCancellation,
                CompareWorkloads.Latency => CompareWorkloads.MeasureLatency,
                CompareWorkloads.ManyOwners => CompareWorkloads.MeasureManyOwners,
                _ => throw new ArgumentException($"No workload '{workload}'.", nameof(args)),
            };
            measure(settings, launch);
        }

        return 0;
    }

    /// <summary>
    /// Warms the contenders up in rounds for at least <paramref name="warmUp"/> (one round at least), then measures
    /// <paramref name="rounds"/> interleaved rounds and prints the medians.
    /// With <paramref name="trimMemory"/>, each measurement starts from memory given back to the system (see
    /// <see cref="Measure"/>).
    /// </summary>
    public static void Interleave(string workload, IReadOnlyList<Contender> contenders, int rounds, TimeSpan warmUp, int launch, bool trimMemory = false)
    {
        long warmUpStart = Stopwatch.GetTimestamp();
        do
        {
            foreach (Contender contender in contenders)
            {
                Measure(contender, trimMemory);
            }
        }
        while (Stopwatch.GetElapsedTime(warmUpStart) < warmUp);

        List<Sample>[] samples = [.. contenders.Select(_ => new List<Sample>())];
        int[] order = [.. Enumerable.Range(0, contenders.Count)];
        for (int round = 0; round < rounds; round++)
        {
            new Random((launch * 1_000) + round).Shuffle(order);
            foreach (int at in order)
            {
                Contender contender = contenders[at];
                Sample sample = Measure(contender, trimMemory);
                samples[at].Add(sample);
                if (contender.ReportRounds)
                {
                    Print(RoundLine, workload, contender.Name, Text(sample.Nanoseconds / contender.Units), Text((double)sample.Bytes / contender.Units));
                }
            }
        }

        for (int at = 0; at < contenders.Count; at++)
        {
            Contender contender = contenders[at];
            List<Sample> measured = samples[at];
            Print(
                ResultLine,
                workload,
                contender.Name,
                Text(contender.Units),
                Text(Spread.Of(measured.Select(s => s.Nanoseconds / contender.Units)).Median),
                Text(Spread.Of(measured.Select(s => (double)s.Bytes / contender.Units)).Median),
                Text(measured[0].Exceptions < 0 ? double.NaN : Spread.Of(measured.Select(s => (double)s.Exceptions / contender.Units)).Median),
                Text(measured[0].StillRunning < 0 ? double.NaN : measured.Max(s => s.StillRunning)),
                Text(measured[0].PageFaults < 0 ? double.NaN : Spread.Of(measured.Select(s => (double)s.PageFaults / contender.Units)).Median));
        }
    }

    /// <summary>Times <paramref name="run"/> and counts what the whole process allocates meanwhile.</summary>
    public static async Task<Sample> TimeAsync(Func<Task> run)
    {
        long faults = PageFaults.Minor();
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        long start = Stopwatch.GetTimestamp();
        await run();
        double nanoseconds = Stopwatch.GetElapsedTime(start).TotalNanoseconds;
        long bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        return new Sample(nanoseconds, bytes, PageFaults: faults < 0 ? -1 : PageFaults.Minor() - faults);
    }

    public static void Info(string key, double value) => Print(InfoLine, key, Text(value));

    /// <summary>
    /// Runs one measurement on this thread, after a full collection, so no contender pays for another's garbage. With
    /// <paramref name="trimMemory"/>, the collection is aggressive: it gives the memory it freed back to the system, so
    /// that every contender starts from the same state. The trivial workload needs it: there a contender that allocates
    /// a large array right after another freed one reuses that memory, while one that runs after contenders that
    /// allocate little touches fresh memory, whose page faults cost microseconds each on some virtual machines. It costs
    /// the other workloads page faults of their own small allocations that they would not take in a warm process.
    /// </summary>
    private static Sample Measure(Contender contender, bool trimMemory)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        if (trimMemory)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
        else
        {
            GC.Collect();
        }

        return contender.MeasureAsync().GetAwaiter().GetResult();
    }

    private static void Print(params string[] fields) => Console.WriteLine(ResultPrefix + string.Join('\t', fields));

    private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>One contender of a workload: <see cref="MeasureAsync"/> sets up, measures one run and checks it.</summary>
    /// <param name="Name">The name the report shows.</param>
    /// <param name="Units">What each figure is divided by: jobs, or calls.</param>
    /// <param name="MeasureAsync">One measured run.</param>
    /// <param name="ReportRounds">Whether to print every round, not only the median.</param>
    public sealed record Contender(string Name, long Units, Func<Task<Sample>> MeasureAsync, bool ReportRounds = false);

    /// <summary>
    /// One measured run: elapsed time, bytes allocated, for cancellation exceptions thrown and work calls still running, and
    /// where timed by <see cref="TimeAsync"/>, the minor page faults of the process meanwhile (-1 where not measured).
    /// </summary>
    public readonly record struct Sample(double Nanoseconds, long Bytes, int Exceptions = -1, int StillRunning = -1, long PageFaults = -1);
}
