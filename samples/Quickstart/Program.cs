// The incident's program, ported: 10 jobs, 3 workers, 800 ms per job, and a 3 s deadline for the whole run. Three
// rounds of three jobs end at 2.4 s; the deadline cuts the fourth round, so the last job is cancelled while it runs.
// Every job observes the token the pool hands it, so the deadline really stops the work, and when RunAsync returns
// no worker is left behind.
using System.Collections.Concurrent;
using System.Diagnostics;
using WorkerPool;

const int JobCount = 10;
const int Workers = 3;
TimeSpan jobTime = TimeSpan.FromMilliseconds(800);
TimeSpan deadline = TimeSpan.FromSeconds(3);

// At most `Workers` jobs run at once, so a job can borrow one of `Workers` lane numbers to say which worker it is on.
var lanes = new ConcurrentQueue<int>(Enumerable.Range(1, Workers));
var clock = Stopwatch.StartNew();

await using var pool = new BoundedWorkerPool<int, int>(
    async (job, cancellationToken) =>
    {
        lanes.TryDequeue(out int lane);
        try
        {
            Console.WriteLine($"[{clock.ElapsedMilliseconds,5} ms] worker {lane}: started job {job}");
            await Task.Delay(jobTime, cancellationToken);
            Console.WriteLine($"[{clock.ElapsedMilliseconds,5} ms] worker {lane}: finished job {job}");
            return job * 2;
        }
        finally
        {
            lanes.Enqueue(lane);
        }
    },
    new WorkerPoolOptions { MaxWorkers = Workers, QueueCapacity = Workers, Name = "quickstart" });

using var timeout = new CancellationTokenSource(deadline);
try
{
    IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(Enumerable.Range(1, JobCount), timeout.Token);
    Console.WriteLine($"[{clock.ElapsedMilliseconds,5} ms] all {results.Count} jobs done: {string.Join(", ", results.Select(r => r.Value))}");
}
catch (WorkerPoolCanceledException<int, int> canceled)
{
    int done = canceled.Results.Count(r => r.IsSuccess);
    Console.WriteLine($"[{clock.ElapsedMilliseconds,5} ms] deadline reached: {done} of {canceled.Results.Count} jobs taken from the source finished, the rest were cancelled");
    Console.WriteLine("          the outcomes kept, one per job taken:");
    foreach (JobResult<int, int> r in canceled.Results)
    {
        string value = r.IsSuccess ? $" = {r.Value}" : string.Empty;
        Console.WriteLine($"          job {r.Job,2}: {r.Status}{value} after {r.Duration.TotalMilliseconds:0} ms");
    }
}

await pool.DisposeAsync();
WorkerPoolStatistics stats = pool.GetStatistics();
Console.WriteLine($"[{clock.ElapsedMilliseconds,5} ms] peak workers {stats.PeakWorkers}, active workers {stats.ActiveWorkers}, running jobs {stats.RunningJobs}");
if (stats.ActiveWorkers != 0 || stats.RunningJobs != 0)
{
    Console.WriteLine("Workers are still running");
    return 1;
}

Console.WriteLine("All workers shutdown gracefully");
return 0;
