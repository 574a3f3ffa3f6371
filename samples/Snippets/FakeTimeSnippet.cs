#region FakeTime
using Microsoft.Extensions.Time.Testing;
using WorkerPool;
#endregion

namespace Snippets;

internal static class FakeTimeSnippet
{
    internal static async Task<JobResult<string, int>> RunAsync()
    {
        #region FakeTime
        var clock = new FakeTimeProvider();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var pool = new BoundedWorkerPool<string, int>(
            async (url, ct) =>
            {
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, ct);   // a job that hangs until its token is cancelled
                return 0;
            },
            new WorkerPoolOptions { JobTimeout = TimeSpan.FromSeconds(30), TimeProvider = clock });

        Task<IReadOnlyList<JobResult<string, int>>> run = pool.RunAsync(["https://example.com/slow"]);
        await started.Task;                        // the job's timeout is set before the job starts
        clock.Advance(TimeSpan.FromSeconds(30));   // no real waiting
        JobResult<string, int> result = (await run).Single();
        // result.Status == JobStatus.TimedOut, result.Duration == 30 s
        #endregion
        return result;
    }
}
