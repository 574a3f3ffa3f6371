using System.Diagnostics;
using System.Globalization;

namespace WorkerPool.Benchmarks;

/// <summary>
/// Scale: streams a lazy source of trivial jobs through the pool and reports the peak working set. Each measurement runs
/// in a fresh child process of this program, so that one size's peak cannot hide in another's. Parallel.ForEachAsync
/// over the same lazy source is measured the same way, as a reference.
/// </summary>
internal static class ScaleMeasurement
{
    public const string ChildFlag = "--scale-child";

    private const string PoolStream = "Pool StreamAsync";
    private const string ParallelForEach = "Parallel.ForEachAsync";
    private const string ResultPrefix = "SCALE\t";

    /// <summary>Runs every contender at every size, each in its own process, and returns the results as markdown lines.</summary>
    public static IReadOnlyList<string> Run(WorkloadSettings settings)
    {
        var lines = new List<string>
        {
            $"Scale ({settings.Mode} mode): lazy IEnumerable<int> source, x => x * 2, MaxWorkers = {settings.CpuWorkers}, " +
            $"QueueCapacity = {settings.QueueCapacity}, one fresh process per row.",
            "",
            "| Contender | Jobs | Elapsed (ms) | ns/job | Working set at start (MB) | Peak working set (MB) | Allocated (B/job) | Gen0/Gen1/Gen2 GCs |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        };
        foreach (string contender in new[] { PoolStream, ParallelForEach })
        {
            foreach (int jobs in settings.ScaleJobs)
            {
                string[] fields = RunChildProcess(contender, jobs, settings.Mode);
                double elapsedMs = double.Parse(fields[0], CultureInfo.InvariantCulture);
                long startWorkingSet = long.Parse(fields[1], CultureInfo.InvariantCulture);
                long peakWorkingSet = long.Parse(fields[2], CultureInfo.InvariantCulture);
                long allocated = long.Parse(fields[3], CultureInfo.InvariantCulture);
                string line =
                    string.Create(CultureInfo.InvariantCulture, $"| {contender} | {jobs:N0} | {elapsedMs:N0} | {elapsedMs * 1e6 / jobs:N1} | ") +
                    string.Create(CultureInfo.InvariantCulture, $"{startWorkingSet / 1048576.0:N1} | {peakWorkingSet / 1048576.0:N1} | ") +
                    string.Create(CultureInfo.InvariantCulture, $"{(double)allocated / jobs:N3} | {fields[4]} |");
                Console.WriteLine(line);
                lines.Add(line);
            }
        }

        return lines;
    }

    /// <summary>The child side: <c>--scale-child "contender" jobs mode</c>. Prints one result line.</summary>
    public static int RunChild(string[] args)
    {
        string contender = args[0];
        int jobs = int.Parse(args[1], CultureInfo.InvariantCulture);
        WorkloadSettings settings = args[2] == WorkloadSettings.Quick.Mode ? WorkloadSettings.Quick : WorkloadSettings.Full;

        using var process = Process.GetCurrentProcess();
        long startWorkingSet = process.WorkingSet64;
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        int[] collectionsBefore = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        var clock = Stopwatch.StartNew();
        long checksum = contender switch
        {
            PoolStream => StreamThroughPoolAsync(jobs, settings).GetAwaiter().GetResult(),
            ParallelForEach => ParallelForEachAsync(jobs, settings).GetAwaiter().GetResult(),
            _ => throw new ArgumentException($"Unknown contender '{contender}'.", nameof(args)),
        };
        clock.Stop();
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        string collections = string.Join('/', collectionsBefore.Select((before, generation) => GC.CollectionCount(generation) - before));
        process.Refresh();

        long expected = (long)jobs * (jobs - 1);
        if (checksum != expected)
        {
            Console.Error.WriteLine($"{contender}: checksum {checksum}, expected {expected}.");
            return 1;
        }

        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{ResultPrefix}{clock.Elapsed.TotalMilliseconds:F1}\t{startWorkingSet}\t{process.PeakWorkingSet64}\t{allocated}\t{collections}"));
        return 0;
    }

    /// <summary>The job source: lazy, so the jobs themselves never occupy memory all at once.</summary>
    private static IEnumerable<int> Generate(int count)
    {
        for (int i = 0; i < count; i++)
        {
            yield return i;
        }
    }

    private static async Task<long> StreamThroughPoolAsync(int jobs, WorkloadSettings settings)
    {
        await using var pool = new BoundedWorkerPool<int, int>(
            TrivialContenders.PoolWork,
            new WorkerPoolOptions { MaxWorkers = settings.CpuWorkers, QueueCapacity = settings.QueueCapacity, Name = "scale" });
        long sum = 0;
        await foreach (JobResult<int, int> result in pool.StreamAsync(Generate(jobs)))
        {
            sum += result.Value;
        }

        return sum;
    }

    private static async Task<long> ParallelForEachAsync(int jobs, WorkloadSettings settings)
    {
        long sum = 0;
        await Parallel.ForEachAsync(
            Generate(jobs),
            new ParallelOptions { MaxDegreeOfParallelism = settings.CpuWorkers },
            (x, _) =>
            {
                Interlocked.Add(ref sum, TrivialContenders.Work(x));
                return ValueTask.CompletedTask;
            });
        return sum;
    }

    private static string[] RunChildProcess(string contender, int jobs, string mode) => ChildLaunch.Run(
        [ChildFlag, contender, jobs.ToString(CultureInfo.InvariantCulture), mode],
        ResultPrefix,
        TimeSpan.FromMinutes(10))[0];
}
