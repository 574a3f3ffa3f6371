using System.Diagnostics;
using System.Globalization;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Fair admission under sustained overload: many callers share one pool, a fixed number of them in progress at any time
/// (a closed loop), each running a few latency-bound jobs. Reports each caller's latency, from its call to the call's
/// completion. The contender is the same jobs, each guarded by one shared <see cref="SemaphoreSlim"/> with as many
/// permits as the pool has workers: its async waiters queue in arrival order, which is the fair answer.
/// </summary>
/// <remarks>
/// One child process per launch and (callers, fan-out): it measures the semaphore once and then the pool at every queue
/// capacity, over the same seeded delays, so every ratio compares contenders of the same launch. Even launches run the
/// semaphore first, odd launches last.
/// </remarks>
internal static class FairAdmissionMeasurement
{
    public const string ChildFlag = "--fair-admission-child";

    private const string ResultPrefix = "FAIR\t";
    private const string Semaphore = "SemaphoreSlim";
    private const string Run = "RunAsync";
    private const string Submit = "SubmitAsync";

    public static IReadOnlyList<string> Measure(FairnessSettings settings)
    {
        var results = new List<(int Callers, int FanOut, string Contender, int Queue, Latencies Pool, Latencies Reference)>();
        var loads = new List<double>();
        var clock = Stopwatch.StartNew();
        foreach (int callers in settings.Callers)
        {
            foreach (int fanOut in settings.FanOuts)
            {
                for (int launch = 0; launch < settings.Launches; launch++)
                {
                    loads.Add(MachineLoad.OneMinute());
                    Console.WriteLine($"// Fair admission: {callers} callers, fan-out {fanOut}, launch {launch + 1} of {settings.Launches} ({MachineLoad.Describe()})");
                    string[] arguments =
                    [
                        ChildFlag, Text(callers), Text(fanOut), Text(settings.Concurrency), Text(settings.Workers),
                        Text(settings.MinDelayMilliseconds), Text(settings.MaxDelayMilliseconds),
                        string.Join(',', settings.QueueCapacities.Select(Text)), Text(launch),
                    ];
                    IReadOnlyList<string[]> lines = ChildLaunch.Run(arguments, ResultPrefix, TimeSpan.FromMinutes(20));
                    Latencies reference = Latencies.Parse(lines.Single(line => line[0] == Semaphore));
                    foreach (string[] line in lines.Where(line => line[0] != Semaphore))
                    {
                        results.Add((callers, fanOut, line[0], int.Parse(line[1], CultureInfo.InvariantCulture), Latencies.Parse(line), reference));
                    }
                }
            }
        }

        var report = new List<string>
        {
            $"Fair admission ({settings.Mode} mode): {string.Join(" and ", settings.Callers.Select(c => c.ToString("N0", CultureInfo.InvariantCulture)))} " +
            $"callers, {settings.Concurrency} in progress at a time (closed loop); MaxWorkers {settings.Workers} against " +
            $"SemaphoreSlim({settings.Workers}); each job awaits Task.Delay({settings.MinDelayMilliseconds}–{settings.MaxDelayMilliseconds} ms), " +
            $"the same seeded delays for both in a launch. SubmitAsync: one job per caller. Median over {settings.Launches} launches, " +
            $"range in brackets; latencies in ms. One-minute load average before each launch: {Spread.Of(loads).ToString("N1")}. " +
            $"Took {clock.Elapsed.TotalMinutes:N1} min.",
            "",
            "| Queue | Callers | Fan-out | Call | Jobs in flight vs workers + queue | Pool p50 / p99 / max | Semaphore p50 / p99 / max | p99 pool ÷ semaphore | max pool ÷ semaphore | Pool jobs/s | Semaphore jobs/s |",
            "|---:|---:|---:|---|---:|---|---|---:|---:|---:|---:|",
        };
        foreach (var shape in results
            .GroupBy(r => (r.Queue, r.Callers, r.FanOut, r.Contender))
            .OrderBy(g => g.Key.Queue).ThenBy(g => g.Key.Callers).ThenBy(g => g.Key.FanOut).ThenBy(g => g.Key.Contender))
        {
            var (queue, callers, fanOut, contender) = shape.Key;
            string Latency(Func<Latencies, double> figure, bool pool) =>
                Spread.Of(shape.Select(r => figure(pool ? r.Pool : r.Reference))).Median.ToString("N0", CultureInfo.InvariantCulture);
            string Triple(bool pool) => $"{Latency(l => l.P50, pool)} / {Latency(l => l.P99, pool)} / {Latency(l => l.Max, pool)}";
            report.Add(
                $"| {queue:N0} | {callers:N0} | {fanOut} | {contender} | {InFlight(settings.Concurrency * fanOut, settings.Workers + queue)} " +
                $"| {Triple(pool: true)} | {Triple(pool: false)} " +
                $"| {Spread.Of(shape.Select(r => r.Pool.P99 / r.Reference.P99)).ToString("N2")} " +
                $"| {Spread.Of(shape.Select(r => r.Pool.Max / r.Reference.Max)).ToString("N2")} " +
                $"| {Spread.Of(shape.Select(r => r.Pool.JobsPerSecond)).ToString("N0")} " +
                $"| {Spread.Of(shape.Select(r => r.Reference.JobsPerSecond)).ToString("N0")} |");
        }

        foreach (string line in report)
        {
            Console.WriteLine(line);
        }

        return report;
    }

    /// <summary>
    /// The child side: <c>CALLERS FANOUT CONCURRENCY WORKERS MINDELAY MAXDELAY QUEUES LAUNCH</c>, QUEUES comma-separated. Prints one result line
    /// per contender: name, queue capacity (0 for the semaphore), p50, p99, max (ms), jobs/s.
    /// </summary>
    public static int RunChild(string[] args)
    {
        int[] numbers = [.. args.Take(6).Select(a => int.Parse(a, CultureInfo.InvariantCulture))];
        (int callers, int fanOut, int concurrency, int workers, int minDelay, int maxDelay) =
            (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5]);
        int[] queues = [.. args[6].Split(',').Select(a => int.Parse(a, CultureInfo.InvariantCulture))];
        int launch = int.Parse(args[7], CultureInfo.InvariantCulture);

        // The seed depends on the launch only: every contender of a launch waits the same delays, caller by caller.
        var random = new Random(20_261_121 + launch);
        int[][] delays = [.. Enumerable.Range(0, callers).Select(_ => Enumerable.Range(0, fanOut).Select(_ => random.Next(minDelay, maxDelay + 1)).ToArray())];

        // Warm-up: every code path once, so the JIT does not land in the first callers' latencies.
        int[][] warmUp = [.. Enumerable.Range(0, 8).Select(_ => new[] { 1, 1 })];
        MeasureSemaphoreAsync(warmUp, 4, workers).GetAwaiter().GetResult();
        MeasurePoolAsync(warmUp, 4, workers, 64, submit: false).GetAwaiter().GetResult();
        MeasurePoolAsync([.. warmUp.Select(d => d[..1])], 4, workers, 64, submit: true).GetAwaiter().GetResult();

        var measurements = new List<Action>();
        measurements.Add(() => Print(Semaphore, 0, MeasureSemaphoreAsync(delays, concurrency, workers).GetAwaiter().GetResult()));
        foreach (int queue in queues)
        {
            measurements.Add(() => Print(Run, queue, MeasurePoolAsync(delays, concurrency, workers, queue, submit: false).GetAwaiter().GetResult()));
            if (fanOut == 1)
            {
                measurements.Add(() => Print(Submit, queue, MeasurePoolAsync(delays, concurrency, workers, queue, submit: true).GetAwaiter().GetResult()));
            }
        }

        if (launch % 2 == 1)
        {
            measurements.Reverse();
        }

        foreach (Action measure in measurements)
        {
            measure();
        }

        return 0;
    }

    private static void Print(string contender, int queue, Latencies latencies) => Console.WriteLine(string.Create(
        CultureInfo.InvariantCulture,
        $"{ResultPrefix}{contender}\t{queue}\t{latencies.P50:F3}\t{latencies.P99:F3}\t{latencies.Max:F3}\t{latencies.JobsPerSecond:F1}"));

    private static async Task<Latencies> MeasurePoolAsync(int[][] delays, int concurrency, int workers, int queue, bool submit)
    {
        await using var pool = new BoundedWorkerPool<int, int>(
            static async (delay, cancellationToken) =>
            {
                await Task.Delay(delay, cancellationToken);
                return delay;
            },
            new WorkerPoolOptions { MaxWorkers = workers, QueueCapacity = queue, Name = "fair-admission" });
        return await ClosedLoopAsync(delays, concurrency, submit
            ? async jobs =>
            {
                if (await pool.SubmitAsync(jobs[0]) != jobs[0])
                {
                    throw new InvalidOperationException("SubmitAsync returned a wrong value.");
                }
            }
            : async jobs =>
            {
                IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(jobs);
                if (results.Count != jobs.Length || !results.All(r => r.IsSuccess))
                {
                    throw new InvalidOperationException("A job did not succeed.");
                }
            });
    }

    private static async Task<Latencies> MeasureSemaphoreAsync(int[][] delays, int concurrency, int workers)
    {
        using var semaphore = new SemaphoreSlim(workers, workers);
        return await ClosedLoopAsync(delays, concurrency, jobs =>
        {
            // The caller starts all its jobs at once; each waits for a permit in arrival order.
            var tasks = new Task[jobs.Length];
            for (int i = 0; i < jobs.Length; i++)
            {
                tasks[i] = GuardedAsync(semaphore, jobs[i]);
            }

            return Task.WhenAll(tasks);
        });

        static async Task GuardedAsync(SemaphoreSlim semaphore, int delay)
        {
            await semaphore.WaitAsync();
            try
            {
                await Task.Delay(delay);
            }
            finally
            {
                semaphore.Release();
            }
        }
    }

    /// <summary>
    /// Runs caller <c>i</c> with jobs <c>delays[i]</c>, <paramref name="concurrency"/> callers at a time: each finished
    /// caller is replaced by the next, until every caller has run. Records each call's latency.
    /// </summary>
    private static async Task<Latencies> ClosedLoopAsync(int[][] delays, int concurrency, Func<int[], Task> call)
    {
        double[] latencies = new double[delays.Length];
        int next = -1;
        long start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Math.Min(concurrency, delays.Length)).Select(_ => LoopAsync()).ToArray());
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        Array.Sort(latencies);
        return new Latencies(
            Percentile(latencies, 0.50),
            Percentile(latencies, 0.99),
            latencies[^1],
            delays.Sum(jobs => jobs.Length) / seconds);

        async Task LoopAsync()
        {
            int caller;
            while ((caller = Interlocked.Increment(ref next)) < delays.Length)
            {
                long called = Stopwatch.GetTimestamp();
                await call(delays[caller]);
                latencies[caller] = Stopwatch.GetElapsedTime(called).TotalMilliseconds;
            }
        }
    }

    /// <summary>
    /// The most jobs the callers can have outstanding against what the pool holds without making a producer wait; in
    /// bold where a producer can find the queue full, the only rows that test admission.
    /// </summary>
    private static string InFlight(int jobs, int held) => jobs > held
        ? string.Create(CultureInfo.InvariantCulture, $"**{jobs:N0} vs {held:N0}**")
        : string.Create(CultureInfo.InvariantCulture, $"{jobs:N0} vs {held:N0}");

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(double[] sorted, double fraction) =>
        sorted[Math.Max(0, (int)Math.Ceiling(fraction * sorted.Length) - 1)];

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private readonly record struct Latencies(double P50, double P99, double Max, double JobsPerSecond)
    {
        public static Latencies Parse(string[] line) => new(
            ChildLaunch.Parse(line[2]), ChildLaunch.Parse(line[3]), ChildLaunch.Parse(line[4]), ChildLaunch.Parse(line[5]));
    }
}
