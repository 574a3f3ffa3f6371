using WorkerPool;

namespace Snippets;

internal static class StreamingSnippet
{
    internal static async Task RunAsync(BoundedWorkerPool<Order, Receipt> pool, ILogger logger, CancellationToken cancellationToken)
    {
        #region Streaming
        await foreach (JobResult<Order, Receipt> r in pool.StreamAsync(ReadOrdersAsync(), cancellationToken))
        {
            if (r.Status != JobStatus.Succeeded) logger.LogWarning(r.Error, "order {Order} failed", r.Job);
            else await SaveAsync(r.Value!);
        }
        #endregion
    }

    private static async IAsyncEnumerable<Order> ReadOrdersAsync()
    {
        for (int id = 1; id <= 3; id++)
        {
            await Task.Yield();
            yield return new Order(id);
        }
    }

    private static Task SaveAsync(Receipt receipt) => Task.CompletedTask;
}
