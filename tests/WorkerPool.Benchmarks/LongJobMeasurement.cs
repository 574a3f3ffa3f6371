using System.Diagnostics;
using System.Globalization;

namespace WorkerPool.Benchmarks;

/// <summary>
/// A long synchronous job among short ones: one RunAsync of many short spinning jobs with one long spinning job among
/// them, on two workers. The ideal elapsed time is the long job's: it keeps one worker, and the other worker runs
/// everything else meanwhile. One child process per launch; each launch reports the median of a few runs.
/// </summary>
internal static class LongJobMeasurement
{
    public const string ChildFlag = "--long-job-child";

    private const string ResultPrefix = "LONG\t";
    private const int RunsPerLaunch = 5;

    public static IReadOnlyList<string> Measure(FairnessSettings settings)
    {
        var elapsed = new List<double>();
        var loads = new List<double>();
        for (int launch = 0; launch < settings.Launches; launch++)
        {
            loads.Add(MachineLoad.OneMinute());
            string[] arguments =
            [
                ChildFlag, Text(settings.LongJobWorkers), Text(settings.LongJobJobs), Text(settings.LongJobIndex),
                Text(settings.ShortJobMicroseconds), Text(settings.LongJobMilliseconds),
            ];
            elapsed.Add(ChildLaunch.Parse(ChildLaunch.Run(arguments, ResultPrefix, TimeSpan.FromMinutes(5))[0][0]));
        }

        // The long job holds one worker for its whole length; the other worker has all the short jobs, which take far less.
        double shortTotal = (settings.LongJobJobs - 1) * settings.ShortJobMicroseconds / 1000.0;
        double ideal = Math.Max(settings.LongJobMilliseconds, (settings.LongJobMilliseconds + shortTotal) / settings.LongJobWorkers);
        var report = new List<string>
        {
            $"Long job ({settings.Mode} mode): RunAsync of {settings.LongJobJobs} synchronous spinning jobs of {settings.ShortJobMicroseconds} µs, " +
            $"job {settings.LongJobIndex} spinning {settings.LongJobMilliseconds} ms instead, MaxWorkers {settings.LongJobWorkers}. " +
            $"Ideal {ideal:N1} ms. Each launch: the median of {RunsPerLaunch} runs after a warm-up; median over {settings.Launches} launches, " +
            $"range in brackets. One-minute load average before each launch: {Spread.Of(loads).ToString("N1")}.",
            "",
            "| Elapsed (ms) | Elapsed ÷ ideal |",
            "|---:|---:|",
            $"| {Spread.Of(elapsed).ToString("N1")} | {Spread.Of(elapsed.Select(e => e / ideal)).ToString("N3")} |",
        };
        foreach (string line in report)
        {
            Console.WriteLine(line);
        }

        return report;
    }

    /// <summary>The child side: <c>WORKERS JOBS LONGINDEX SHORTMICROSECONDS LONGMILLISECONDS</c>. Prints the median elapsed ms.</summary>
    public static int RunChild(string[] args)
    {
        int[] numbers = [.. args.Select(a => int.Parse(a, CultureInfo.InvariantCulture))];
        (int workers, int jobCount, int longIndex, int shortMicroseconds, int longMilliseconds) =
            (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4]);

        // A job is its own length in microseconds.
        int[] jobs = [.. Enumerable.Range(0, jobCount).Select(i => i == longIndex ? longMilliseconds * 1000 : shortMicroseconds)];
        int[] warmUp = [.. Enumerable.Repeat(shortMicroseconds, jobCount)];
        double[] runs = [.. Enumerable.Range(-1, RunsPerLaunch + 1)
            .Select(run => ElapsedAsync(run < 0 ? warmUp : jobs, workers).GetAwaiter().GetResult())
            .Skip(1)
            .Order()];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{ResultPrefix}{runs[runs.Length / 2]:F3}"));
        return 0;
    }

    private static async Task<double> ElapsedAsync(int[] jobs, int workers)
    {
        await using var pool = new BoundedWorkerPool<int, int>(
            static (microseconds, _) =>
            {
                Spin(microseconds);
                return ValueTask.FromResult(microseconds);
            },
            new WorkerPoolOptions { MaxWorkers = workers, Name = "long-job" });
        long start = Stopwatch.GetTimestamp();
        IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(jobs);
        double elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        if (results.Count != jobs.Length || !results.All(r => r.IsSuccess))
        {
            throw new InvalidOperationException("A job did not succeed.");
        }

        return elapsed;
    }

    /// <summary>Keeps the thread busy for the given wall-clock time.</summary>
    private static void Spin(int microseconds)
    {
        long end = Stopwatch.GetTimestamp() + (microseconds * Stopwatch.Frequency / 1_000_000);
        while (Stopwatch.GetTimestamp() < end)
        {
            Thread.SpinWait(10);
        }
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
