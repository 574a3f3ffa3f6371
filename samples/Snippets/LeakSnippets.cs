using System.Threading.Channels;
using WorkerPool;

namespace Snippets;

internal static class LeakSnippets
{
    internal static async Task<int> LeakyAsync(List<Job> jobs)
    {
        #region Leak
        // Leaks: returns on the first error, and the remaining senders block forever on WriteAsync.
        var results = Channel.CreateBounded<int>(1);
        foreach (var job in jobs)
            _ = Task.Run(async () => await results.Writer.WriteAsync(await DoWorkAsync(job, CancellationToken.None)));
        for (int i = 0; i < jobs.Count; i++)
        {
            int result = await results.Reader.ReadAsync();
            if (result < 0) return Error();   // nobody will ever read the other results
        }
        #endregion

        return 0;
    }

    internal static async Task<IReadOnlyList<JobResult<Job, int>>> PooledAsync(List<Job> jobs, CancellationToken cancellationToken)
    {
        #region NoLeak
        // Cannot leak: when RunAsync returns or throws, no work of this run is running, and none will start.
        await using var pool = new BoundedWorkerPool<Job, int>(DoWorkAsync,
            new WorkerPoolOptions { MaxWorkers = 8, ErrorMode = ErrorMode.StopOnFirstError });
        IReadOnlyList<JobResult<Job, int>> results = await pool.RunAsync(jobs, cancellationToken);
        #endregion

        return results;
    }

    private static async ValueTask<int> DoWorkAsync(Job job, CancellationToken cancellationToken)
    {
        await Task.Delay(10, cancellationToken);
        return job.Id;
    }

    private static int Error() => -1;
}
