#region Example
using WorkerPool;
#endregion

namespace Snippets;

internal static class ExampleSnippet
{
    internal static async Task RunAsync(HttpClient http, IEnumerable<string> urls, CancellationToken cancellationToken)
    {
        #region Example
        await using var pool = new BoundedWorkerPool<string, int>(
            async (url, ct) => (await http.GetByteArrayAsync(url, ct)).Length,
            new WorkerPoolOptions { MaxWorkers = 4, JobTimeout = TimeSpan.FromSeconds(10) });

        foreach (var r in await pool.RunAsync(urls, cancellationToken))
            Console.WriteLine(r.Status == JobStatus.Succeeded ? $"{r.Job}: {r.Value} bytes" : $"{r.Job}: {r.Status} {r.Error?.Message}");
        #endregion
    }
}
