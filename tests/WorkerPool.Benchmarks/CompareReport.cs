using System.Globalization;
using static WorkerPool.Benchmarks.CompareWorkloads;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Builds the <c>--compare</c> report from the launches: a table per workload (median over launches, range in
/// brackets), the goals with their verdicts computed from the medians, and what Parallel.ForEachAsync's time per job
/// depends on.
/// </summary>
internal static class CompareReport
{
    public static IReadOnlyList<string> Build(CompareSettings settings, IReadOnlyList<CompareLaunch> launches, Spread load, TimeSpan took)
    {
        var lines = new List<string>
        {
            Text($"Side-by-side comparison ({settings.Mode} mode): {launches.Count} launches, each a fresh process. In each launch every workload ") +
            Text($"runs its contenders in rounds for at least {settings.WarmUp.TotalSeconds:0.#} s (one round at least) to warm up, then {settings.Rounds} rounds ({settings.CancellationRounds} for cancellation) that run every ") +
            "contender once, in an order shuffled for each round (seeded by the launch and the round); a launch's figure is the median of its rounds. " +
            "Below, every figure is the median over the launches, range in brackets; every ratio is taken within a launch, then its median " +
            "over the launches. Time by Stopwatch; allocation by GC.GetTotalAllocatedBytes(precise: true), the whole process. " +
            Text($"One-minute load average before each launch: {load.ToString("N1")}. Took {took.TotalMinutes:N1} min.") +
            (settings.Workloads.Count == CompareSettings.AllWorkloads.Count ? "" : $" Only these workloads were measured (--only): {string.Join(", ", settings.Workloads)}."),
        };
        if (settings.Measures(Trivial))
        {
            lines.AddRange(TrivialTable(settings, launches));
        }

        if (settings.Measures(Submit))
        {
            lines.AddRange(SubmitTable(settings, launches));
        }

        if (settings.Measures(Cancellation))
        {
            lines.AddRange(CancellationTable(settings, launches));
            lines.AddRange(CancellationFloor(settings, launches));
        }

        if (settings.Measures(Latency))
        {
            lines.AddRange(LatencyTable(settings, launches));
        }

        if (settings.Measures(ManyOwners))
        {
            lines.AddRange(ManyOwnersTable(settings, launches));
        }

        lines.AddRange(Goals(settings, launches));
        if (settings.Measures(Trivial))
        {
            lines.AddRange(ForEachLockWaits(launches));
        }

        return lines;
    }

    private static IEnumerable<string> TrivialTable(CompareSettings settings, IReadOnlyList<CompareLaunch> launches)
    {
        string[] contenders =
        [
            RunAsync, RunAsyncBatched, .. settings.StreamQueueCapacities.Select(StreamAsync), ForEachSyncLambda, ForEachAsyncLambda, Channel(settings.ChannelCapacity), ForAsync,
        ];
        return Section(
            Text($"(a) Trivial jobs: {settings.TrivialJobs:N0} jobs of x => x * 2 on {settings.Workers} workers. The pool's work delegate returns ") +
            "ValueTask.FromResult; the async lambda and the channel's readers await that same delegate; the sync lambda calls x * 2 itself. " +
            Text($"RunAsync at QueueCapacity {settings.RunQueueCapacity:N0}, with the default WorkerBatchSize of 1 (jobs start in queue order) ") +
            Text($"and with WorkerBatchSize {BatchSize}. Parallel.ForAsync is not a contender: it runs the same sync lambda ") +
            "without a shared enumerator. Page faults: the process's minor page faults (first touches of memory) during the " +
            "round, per 1,000 jobs: RunAsync writes its outcomes into a new list each round, the Parallel.ForEachAsync, channel and " +
            "Parallel.ForAsync contenders into one array reused from round to round. Every measurement of this workload starts " +
            "after an aggressive collection that gives freed memory back to the system, so that no contender reuses the list of " +
            "the one before it.",
            Table(
                launches,
                Trivial,
                contenders,
                PerUnitTime("ns/job", "N1"),
                PerUnitBytes("B/job", "N2"),
                PageFaultsPerThousand(),
                TimeRatio(Trivial, ForEachSyncLambda, "time ÷ Parallel.ForEachAsync, sync lambda")));
    }

    private static IEnumerable<string> SubmitTable(CompareSettings settings, IReadOnlyList<CompareLaunch> launches) => Section(
        Text($"(b) SubmitAsync: {settings.Callers} concurrent callers, each making {settings.CallsPerCaller:N0} calls one after the other, one ") +
        Text($"trivial job per call; pool MaxWorkers {settings.Workers}. The peer: the same callers, each call waiting on one shared ") +
        Text($"SemaphoreSlim({settings.Workers}) and then calling the job itself. A call that never waits runs its job on its caller's ") +
        "thread, and each caller's calls complete without a pause, so the thread pool runs the callers mostly one after " +
        "the other: the semaphore's B/call shows how often a call waited. The third contender is a floor, not a peer: the " +
        Text($"same callers hand each job to {settings.Workers} loops reading a bounded channel and wait for its value, with none of the ") +
        "pool's cancellation, timeouts, ExecutionContext or accounting. Time per call = elapsed ÷ calls.",
        Table(
            launches,
            Submit,
            [SubmitAsync, Semaphore(settings.Workers), HandOff(settings.Workers)],
            PerUnitTime("ns/call", "N0"),
            PerUnitBytes("B/call", "N0"),
            PageFaultsPerThousand("calls"),
            TimeRatio(Submit, Semaphore(settings.Workers), "time ÷ SemaphoreSlim"),
            TimeRatio(Submit, HandOff(settings.Workers), "time ÷ channel hand-off")));

    private static IEnumerable<string> CancellationTable(CompareSettings settings, IReadOnlyList<CompareLaunch> launches) => Section(
        Text($"(c) Cancellation: {settings.CancellationJobs:N0} jobs, {settings.CancellationJobs:N0} workers, every job parked in ") +
        "Task.Delay(Timeout.Infinite, token) when the caller's token is cancelled; the pool and Parallel.ForEachAsync wrap the job the same way, " +
        "(x, ct) => new ValueTask(ParkAsync(x, ct)). Time from Cancel() until the call has returned (its exception caught). " +
        "Exceptions: first-chance exceptions in the whole process from Cancel() until the last job has exited, per job; each job " +
        "throws one itself (its await of the cancelled delay), so the next column is what the rest threw, per call, the caller's " +
        "own exception included. Allocation over the same window. The third contender is a baseline: the same jobs started " +
        "directly, with no scheduler, and awaited with Task.WhenAll (its Cancel() runs every job's continuation on one thread).",
        Table(
            launches,
            Cancellation,
            [RunAsync, ForEach, NoPool],
            new Column("ms, Cancel() to return", "N2", (_, _, result) => Total(result) / 1e6),
            new Column("exceptions per job", "N3", (_, _, result) => result.Exceptions),
            new Column("exceptions beyond the jobs' own, per call", "N0", (_, _, result) => (result.Exceptions - 1) * result.Units),
            PerUnitBytes("B/job", "N0"),
            new Column("jobs still running at return", "N0", (_, _, result) => result.StillRunning),
            TimeRatio(Cancellation, ForEach, "time ÷ Parallel.ForEachAsync"),
            TimeRatio(Cancellation, NoPool, "time ÷ no pool")));

    /// <summary>
    /// A lower bound of the cancellation workload: each job's own exception, at what one throw costs in the same launch.
    /// Throws by two threads at once are timed too: how much a pool that unwound its jobs on both cores could gain.
    /// </summary>
    private static IEnumerable<string> CancellationFloor(CompareSettings settings, IReadOnlyList<CompareLaunch> launches)
    {
        static double Cheapest(CompareLaunch launch) =>
            Math.Min(launch.Info(CompareWorkloads.ThrowNanosecondsOneThread), launch.Info(CompareWorkloads.ThrowNanosecondsTwoThreads));

        Spread oneThread = Across(launches, launch => launch.Info(CompareWorkloads.ThrowNanosecondsOneThread));
        Spread twoThreads = Across(launches, launch => launch.Info(CompareWorkloads.ThrowNanosecondsTwoThreads));
        Spread speedUp = Across(launches, launch => launch.Info(CompareWorkloads.ThrowNanosecondsOneThread) / launch.Info(CompareWorkloads.ThrowNanosecondsTwoThreads));
        Spread floor = Across(launches, launch => settings.CancellationJobs * Cheapest(launch) / Total(launch.Get(Cancellation, ForEach)));
        yield return "";
        yield return Text($"One OperationCanceledException thrown and caught in a loop, timed in the same launch: {oneThread.ToString("N0")} ns on one thread alone; ") +
            Text($"{twoThreads.ToString("N0")} ns of wall time per throw with two threads throwing at once, a speed-up of {speedUp.ToString("N2")}: ") +
            Text($"a pool that unwound its jobs on both cores would gain that much at most. The jobs' own {settings.CancellationJobs:N0} throws alone, ") +
            Text($"at the cheaper of the two, take {floor.ToString("N2")} × Parallel.ForEachAsync's time in the same launch: a lower bound for any ") +
            "scheduler. In the workload each throw also unwinds an async method and runs its continuation, as the no-pool baseline does.";
    }

    private static IEnumerable<string> LatencyTable(CompareSettings settings, IReadOnlyList<CompareLaunch> launches)
    {
        int delaysPerWorker = (settings.LatencyJobs + settings.LatencyWorkers - 1) / settings.LatencyWorkers;
        Spread oneDelay = Across(launches, launch => Total(launch.Get(Latency, Ideal)) / delaysPerWorker / 1e6);
        return Section(
            Text($"(d) Latency-bound: {settings.LatencyJobs:N0} jobs, each awaiting Task.Delay({settings.LatencyDelayMilliseconds}), ") +
            Text($"{settings.LatencyWorkers} workers (Parallel.ForEachAsync: MaxDegreeOfParallelism {settings.LatencyWorkers}, async lambda). ") +
            Text($"The ideal is one worker's share, {delaysPerWorker} delays, awaited back to back by one task alone in the same launch: what ") +
            Text($"a scheduler with no overhead would take at this machine's real timer granularity. One Task.Delay({settings.LatencyDelayMilliseconds}) ") +
            Text($"lasted {oneDelay.ToString("N3")} ms in that chain. Efficiency = ideal ÷ elapsed."),
            Table(
                launches,
                Latency,
                [Ideal, RunAsync, ForEach],
                new Column("elapsed, ms", "N1", (_, _, result) => Total(result) / 1e6),
                new Column("efficiency", "N3", (launch, _, result) => launch.Get(Latency, Ideal).Nanoseconds / result.Nanoseconds),
                new Column("B/job", "N1", (_, contender, result) => contender == Ideal ? double.NaN : result.Bytes)));
    }

    private static IEnumerable<string> ManyOwnersTable(CompareSettings settings, IReadOnlyList<CompareLaunch> launches) => Section(
        Text($"(e) Many owners: {settings.Owners:N0} concurrent RunAsync calls of {settings.JobsPerOwner} trivial jobs on one shared pool ") +
        Text($"(MaxWorkers {settings.Workers}), against one RunAsync of all {settings.Owners * settings.JobsPerOwner:N0} jobs on a pool of its own. ") +
        Text($"PeakWorkers of the shared pool after every round: {Across(launches, launch => launch.Info(PeakWorkers)).ToString("N0")}. ") +
        "Page faults: the process's minor page faults during the round, per 1,000 jobs. " +
        "Scale (peak working set over 1M and 10M streamed jobs) needs a fresh process per size: `--scale-only`.",
        Table(
            launches,
            ManyOwners,
            [SingleRun, ManyRuns, ManyRunsBatched],
            PerUnitTime("ns/job", "N1"),
            PerUnitBytes("B/job", "N2"),
            PageFaultsPerThousand(),
            new Column("throughput ÷ 1 run", "N2", (launch, _, result) => launch.Get(ManyOwners, SingleRun).Nanoseconds / result.Nanoseconds)));

    private static List<string> Goals(CompareSettings settings, IReadOnlyList<CompareLaunch> launches)
    {
        Spread Ratio(string workload, string pool, string peer) =>
            Across(launches, launch => launch.Get(workload, pool).Nanoseconds / launch.Get(workload, peer).Nanoseconds);
        Spread Bytes(string workload, string contender) => Across(launches, launch => launch.Get(workload, contender).Bytes);

        var goals = new List<Goal>();
        if (settings.Measures(Trivial))
        {
            goals.AddRange(
            [
                new("Trivial jobs: RunAsync time ÷ Parallel.ForEachAsync, sync lambda", "≤ 0.75", Ratio(Trivial, RunAsync, ForEachSyncLambda), "N2", m => m <= 0.75),
                new("Trivial jobs: RunAsync time ÷ Parallel.ForEachAsync, async lambda", "≤ 0.75", Ratio(Trivial, RunAsync, ForEachAsyncLambda), "N2", m => m <= 0.75),
                new("Trivial jobs: RunAsync time ÷ bounded channel loop", "≤ 1.5", Ratio(Trivial, RunAsync, Channel(settings.ChannelCapacity)), "N2", m => m <= 1.5),
                new(Text($"Trivial jobs, WorkerBatchSize {BatchSize} (opt-in): RunAsync time ÷ Parallel.ForEachAsync, sync lambda"), "≤ 0.75", Ratio(Trivial, RunAsyncBatched, ForEachSyncLambda), "N2", m => m <= 0.75),
                new(Text($"Trivial jobs, WorkerBatchSize {BatchSize} (opt-in): RunAsync time ÷ Parallel.ForEachAsync, async lambda"), "≤ 0.75", Ratio(Trivial, RunAsyncBatched, ForEachAsyncLambda), "N2", m => m <= 0.75),
            ]);
            goals.AddRange(settings.StreamQueueCapacities.Select(capacity => new Goal(
                Text($"Trivial jobs: StreamAsync allocation at QueueCapacity {capacity:N0}, B/job"), "< 1", Bytes(Trivial, StreamAsync(capacity)), "N2", m => m < 1)));
        }

        if (settings.Measures(Submit))
        {
            goals.AddRange(
            [
                new("SubmitAsync: allocation per call, B", "≤ 400", Bytes(Submit, SubmitAsync), "N0", m => m <= 400),
                new(Text($"SubmitAsync: time per call ÷ SemaphoreSlim, {settings.Callers} callers"), "≤ 2", Ratio(Submit, SubmitAsync, Semaphore(settings.Workers)), "N2", m => m <= 2),
            ]);
        }

        if (settings.Measures(Cancellation))
        {
            goals.AddRange(
            [
                new("Cancellation: time ÷ Parallel.ForEachAsync", "≤ 0.5", Ratio(Cancellation, RunAsync, ForEach), "N2", m => m <= 0.5),
                new("Cancellation: exceptions per job, pool", "≤ 1", Across(launches, launch => launch.Get(Cancellation, RunAsync).Exceptions), "N3", m => m <= 1),
                new("Cancellation: jobs still running when RunAsync returned", "0", Across(launches, launch => launch.Get(Cancellation, RunAsync).StillRunning), "N0", m => m == 0),
            ]);
        }

        if (settings.Measures(Latency))
        {
            goals.AddRange(
            [
                new("Latency-bound: RunAsync efficiency (ideal ÷ elapsed)", "≥ 0.98", Ratio(Latency, Ideal, RunAsync), "N3", m => m >= 0.98),
                new("Latency-bound: RunAsync efficiency ÷ Parallel.ForEachAsync's", "≥ 1.00", Ratio(Latency, ForEach, RunAsync), "N3", m => m >= 1),
            ]);
        }

        if (settings.Measures(ManyOwners))
        {
            goals.AddRange(
            [
                new(
                    Text($"Many owners: throughput of {settings.Owners:N0} runs × {settings.JobsPerOwner} ÷ 1 run"), "≥ 0.8",
                    Ratio(ManyOwners, SingleRun, ManyRuns), "N2", m => m >= 0.8),
                new(
                    Text($"Many owners, WorkerBatchSize {BatchSize} (opt-in): throughput of {settings.Owners:N0} runs × {settings.JobsPerOwner} ÷ 1 run"), "≥ 0.8",
                    Ratio(ManyOwners, SingleRun, ManyRunsBatched), "N2", m => m >= 0.8),
                new("Many owners: PeakWorkers of the shared pool", Text($"≤ {settings.Workers}"), Across(launches, launch => launch.Info(PeakWorkers)), "N0", m => m <= settings.Workers),
            ]);
        }

        var lines = new List<string>
        {
            "",
            "Goals: the verdict is computed from the median.",
            "",
            "| Goal | Target | Measured: median (min–max) | Verdict |",
            "|---|---|---:|---|",
        };
        lines.AddRange(goals.Select(goal => $"| {goal.Name} | {goal.Target} | {goal.Measured.ToString(goal.Format)} | {(goal.Met(goal.Measured.Median) ? "pass" : "**fail**")} |"));
        return lines;
    }

    /// <summary>
    /// Parallel.ForEachAsync over an IEnumerable takes a SemaphoreSlim around every MoveNext. Its body allocates nothing
    /// here, so every byte it allocates per job is a waiter of that lock: each round's time against its lock waits.
    /// </summary>
    private static IEnumerable<string> ForEachLockWaits(IReadOnlyList<CompareLaunch> launches)
    {
        (double Waits, double Nanoseconds)[] rounds = [.. launches.SelectMany(launch => launch.Rounds
            .Where(round => round.Workload == Trivial)
            .Select(round => (round.Bytes / launch.Info(CompareChild.WaiterBytes), round.Nanoseconds)))];
        if (rounds.Length == 0)
        {
            yield break;
        }

        yield return "";
        yield return Text($"Parallel.ForEachAsync's time per trivial job against its lock waits: every measured round of both lambdas ({rounds.Length} rounds). ") +
            Text($"Lock waits per job = B/job ÷ {Across(launches, launch => launch.Info(CompareChild.WaiterBytes)).Median:N0} B, the size of one ") +
            "asynchronous SemaphoreSlim wait measured in the same process: the body allocates nothing. Parallel.ForAsync, the same " +
            Text($"body without the lock: {Across(launches, launch => launch.Get(Trivial, ForAsync).Nanoseconds).ToString("N1")} ns/job.");
        yield return "";
        yield return "| lock waits per job | rounds | ns/job: median (min–max) |";
        yield return "|---|---:|---:|";
        double[] edges = [0, 0.05, 0.25, 0.5, 0.75, double.PositiveInfinity];
        for (int i = 0; i + 1 < edges.Length; i++)
        {
            (double low, double high) = (edges[i], edges[i + 1]);
            double[] inBucket = [.. rounds.Where(r => r.Waits >= low && r.Waits < high).Select(r => r.Nanoseconds)];
            if (inBucket.Length > 0)
            {
                string range = double.IsPositiveInfinity(high) ? Text($"{low:N2} or more") : Text($"{low:N2} to {high:N2}");
                yield return Text($"| {range} | {inBucket.Length} | {Spread.Of(inBucket).ToString("N1")} |");
            }
        }

        // Least squares: ns/job = intercept + slope × waits/job.
        double meanWaits = rounds.Average(r => r.Waits);
        double meanTime = rounds.Average(r => r.Nanoseconds);
        double covariance = rounds.Sum(r => (r.Waits - meanWaits) * (r.Nanoseconds - meanTime));
        double waitsSpread = rounds.Sum(r => (r.Waits - meanWaits) * (r.Waits - meanWaits));
        double timeSpread = rounds.Sum(r => (r.Nanoseconds - meanTime) * (r.Nanoseconds - meanTime));
        double slope = covariance / waitsSpread;
        yield return "";
        yield return Text($"Least-squares fit over the {rounds.Length} rounds: ns/job ≈ {meanTime - (slope * meanWaits):N1} + {slope:N1} × lock waits per job ") +
            Text($"(correlation {covariance / Math.Sqrt(waitsSpread * timeSpread):N2}).");
    }

    private static IEnumerable<string> Section(string sentence, IEnumerable<string> table) => ["", sentence, "", .. table];

    private static IEnumerable<string> Table(IReadOnlyList<CompareLaunch> launches, string workload, IReadOnlyList<string> contenders, params Column[] columns)
    {
        yield return $"| Contender | {string.Join(" | ", columns.Select(c => c.Header))} |";
        yield return $"|---|{string.Concat(columns.Select(_ => "---:|"))}";
        foreach (string contender in contenders)
        {
            IEnumerable<string> cells = columns.Select(column =>
            {
                double[] values = [.. launches.Select(launch => column.Value(launch, contender, launch.Get(workload, contender)))];
                return values.All(double.IsNaN) ? "–" : Spread.Of(values).ToString(column.Format);
            });
            yield return $"| {contender} | {string.Join(" | ", cells)} |";
        }
    }

    private static Column PerUnitTime(string header, string format) => new(header, format, (_, _, result) => result.Nanoseconds);

    private static Column PerUnitBytes(string header, string format) => new(header, format, (_, _, result) => result.Bytes);

    private static Column PageFaultsPerThousand(string unit = "jobs") => new($"page faults per 1,000 {unit}", "N1", (_, _, result) => result.PageFaults * 1000);

    private static Column TimeRatio(string workload, string peer, string header) =>
        new(header, "N2", (launch, _, result) => result.Nanoseconds / launch.Get(workload, peer).Nanoseconds);

    private static double Total(CompareLaunch.Result result) => result.Nanoseconds * result.Units;

    private static Spread Across(IReadOnlyList<CompareLaunch> launches, Func<CompareLaunch, double> figure) => Spread.Of(launches.Select(figure));

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>A column of a workload's table: its value for one contender in one launch, from that contender's result.</summary>
    private sealed record Column(string Header, string Format, Func<CompareLaunch, string, CompareLaunch.Result, double> Value);

    private sealed record Goal(string Name, string Target, Spread Measured, string Format, Func<double, bool> Met);
}
