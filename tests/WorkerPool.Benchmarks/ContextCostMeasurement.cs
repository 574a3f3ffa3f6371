using System.Diagnostics;
using System.Globalization;

namespace WorkerPool.Benchmarks;

/// <summary>
/// What a caller's ExecutionContext costs per job: RunAsync of many trivial jobs, once from a caller with nothing in
/// its context, and once from a caller that has set a few AsyncLocals and started an Activity. One child process per
/// launch; each launch alternates the two cases and reports the median of each.
/// </summary>
internal static class ContextCostMeasurement
{
    public const string ChildFlag = "--context-cost-child";

    private const string ResultPrefix = "CONTEXT\t";

    private static readonly AsyncLocal<string?> Tenant = new();
    private static readonly AsyncLocal<int> RequestNumber = new();
    private static readonly AsyncLocal<object?> Scope = new();

    public static IReadOnlyList<string> Measure(FairnessSettings settings)
    {
        var empty = new List<double>();
        var populated = new List<double>();
        var loads = new List<double>();
        for (int launch = 0; launch < settings.Launches; launch++)
        {
            loads.Add(MachineLoad.OneMinute());
            string[] arguments = [ChildFlag, Text(settings.ContextJobs), Text(settings.ContextWorkers), Text(settings.ContextRounds)];
            string[] result = ChildLaunch.Run(arguments, ResultPrefix, TimeSpan.FromMinutes(10))[0];
            empty.Add(ChildLaunch.Parse(result[0]));
            populated.Add(ChildLaunch.Parse(result[1]));
        }

        var report = new List<string>
        {
            $"Context cost ({settings.Mode} mode): RunAsync of {settings.ContextJobs:N0} jobs (x, ct) => ValueTask.FromResult(x), " +
            $"MaxWorkers {settings.ContextWorkers}, QueueCapacity 1,024. Each launch: {settings.ContextRounds} calls of each case, alternating, " +
            $"after a warm-up; the median of each. Median over {settings.Launches} launches, range in brackets. " +
            $"One-minute load average before each launch: {Spread.Of(loads).ToString("N1")}.",
            "",
            "| Caller's context | ns/job |",
            "|---|---:|",
            $"| nothing set | {Spread.Of(empty).ToString("N1")} |",
            $"| 3 AsyncLocals and an Activity | {Spread.Of(populated).ToString("N1")} |",
            $"| ratio, populated ÷ empty | {Spread.Of(populated.Zip(empty, (p, e) => p / e)).ToString("N3")} |",
        };
        foreach (string line in report)
        {
            Console.WriteLine(line);
        }

        return report;
    }

    /// <summary>The child side: <c>JOBS WORKERS ROUNDS</c>. Prints the median ns/job with an empty and with a populated context.</summary>
    public static int RunChild(string[] args)
    {
        int[] numbers = [.. args.Select(a => int.Parse(a, CultureInfo.InvariantCulture))];
        (int jobs, int workers, int rounds) = (numbers[0], numbers[1], numbers[2]);
        var pool = new BoundedWorkerPool<int, int>(
            static (x, _) => ValueTask.FromResult(x),
            new WorkerPoolOptions { MaxWorkers = workers, Name = "context-cost" });
        var empty = new List<double>();
        var populated = new List<double>();
        try
        {
            // Warm-up: both cases once, at a tenth of the size.
            RunAsync(pool, jobs / 10).GetAwaiter().GetResult();
            RunInPopulatedContextAsync(pool, jobs / 10).GetAwaiter().GetResult();
            for (int round = 0; round < rounds; round++)
            {
                empty.Add(RunAsync(pool, jobs).GetAwaiter().GetResult());
                populated.Add(RunInPopulatedContextAsync(pool, jobs).GetAwaiter().GetResult());
            }
        }
        finally
        {
            pool.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{ResultPrefix}{Spread.Of(empty).Median:F2}\t{Spread.Of(populated).Median:F2}"));
        return 0;
    }

    /// <summary>
    /// Sets the AsyncLocals and starts an Activity, then calls the pool. An async method's changes to the
    /// ExecutionContext end with it, so the caller's context is empty again afterwards.
    /// </summary>
    private static async Task<double> RunInPopulatedContextAsync(BoundedWorkerPool<int, int> pool, int jobs)
    {
        Tenant.Value = "tenant-42";
        RequestNumber.Value = 42;
        Scope.Value = new object();
        using Activity activity = new Activity("caller").Start();
        return await RunAsync(pool, jobs);
    }

    /// <summary>One RunAsync over <paramref name="jobs"/> trivial jobs; returns ns/job.</summary>
    private static async Task<double> RunAsync(BoundedWorkerPool<int, int> pool, int jobs)
    {
        long start = Stopwatch.GetTimestamp();
        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(0, jobs));
        double nanoseconds = Stopwatch.GetElapsedTime(start).TotalNanoseconds;
        if (results.Count != jobs)
        {
            throw new InvalidOperationException("A job is missing.");
        }

        return nanoseconds / jobs;
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
