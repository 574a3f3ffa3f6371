using StackExchange.Redis;
using WorkerPool;
using WorkerPool.Redis;

namespace ScaleOut;

/// <summary>Worker mode: one competing consumer with its own pool, until its standard input closes (or it is killed).</summary>
internal static class WorkerProcess
{
    public static async Task<int> RunAsync(ScaleOutOptions options)
    {
        using var stop = new CancellationTokenSource();
        _ = Task.Run(async () =>
        {
            // The orchestrator closes our standard input to stop us gracefully.
            await Console.In.ReadToEndAsync();
            await stop.CancelAsync();
        });

        using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync($"{options.Redis},abortConnect=false");
        IDatabase db = redis.GetDatabase();
        RedisKey done = Keys.Done(options.Stream, options.Name);
        var worker = new RedisStreamWorker<ScaleOutJob, int>(
            db,
            async (message, ct) =>
            {
                await Task.Delay(message.Job.DelayMs, ct);

                // Record completion before the acknowledgement: a process killed in between gets this job run again
                // elsewhere, which is exactly the duplicate that at-least-once delivery allows.
                await db.ListRightPushAsync(done, message.Job.Number);
                return message.Job.Number;
            },
            new RedisStreamOptions
            {
                StreamKey = options.Stream,
                GroupName = Keys.Group,
                ConsumerName = options.Name,
                ClaimMinIdleTime = TimeSpan.FromSeconds(2),
                ClaimInterval = TimeSpan.FromMilliseconds(250),
                PollMaxDelay = TimeSpan.FromMilliseconds(50),
            },
            new WorkerPoolOptions { MaxWorkers = options.MaxWorkers, QueueCapacity = options.MaxWorkers, Name = options.Name });

        try
        {
            await worker.RunAsync(stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        RedisStreamStatistics stats = worker.GetStatistics();
        await db.HashSetAsync(Keys.Stats(options.Stream, options.Name),
        [
            new("read", stats.Read),
            new("reclaimed", stats.Reclaimed),
            new("acknowledged", stats.Acknowledged),
        ]);
        return 0;
    }
}
