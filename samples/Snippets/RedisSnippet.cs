#region Redis
using StackExchange.Redis;
using WorkerPool;
using WorkerPool.Redis;
#endregion

namespace Snippets;

internal static class RedisSnippet
{
    internal static async Task RunAsync(CancellationToken stoppingToken)
    {
        #region Redis
        using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync("localhost:6379,abortConnect=false");
        var worker = new RedisStreamWorker<ScaleOutJob, int>(
            redis.GetDatabase(),
            async (message, ct) =>
            {
                await Task.Delay(message.Job.DelayMs, ct);   // message.Id and message.DeliveryCount are there too
                return message.Job.Number;
            },
            new RedisStreamOptions { StreamKey = "jobs", GroupName = "scaleout", ConsumerName = "p1" },
            new WorkerPoolOptions { MaxWorkers = 16, QueueCapacity = 16 });

        await worker.RunAsync(stoppingToken);   // until the token is cancelled; OperationCanceledException then
        #endregion
    }
}
