#region RedisHosted
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using WorkerPool;
using WorkerPool.Redis;
#endregion

namespace Snippets;

#region RedisHosted
// builder.Services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect("localhost:6379,abortConnect=false"));
// builder.Services.AddHostedService<JobConsumer>();
internal sealed class JobConsumer(IConnectionMultiplexer redis, ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger<JobConsumer>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var worker = new RedisStreamWorker<ScaleOutJob, int>(
            redis.GetDatabase(),
            async (message, ct) =>
            {
                await Task.Delay(message.Job.DelayMs, ct);
                return message.Job.Number;
            },
            new RedisStreamOptions { StreamKey = "{jobs}", GroupName = "scaleout", ConsumerName = Environment.MachineName },
            new WorkerPoolOptions { MaxWorkers = 16, QueueCapacity = 16 },
            loggerFactory: loggers);

        while (true)
        {
            try
            {
                await worker.RunAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;   // the host is stopping: what was not acknowledged stays pending for the next start
            }
            catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException)
            {
                // Cut off for longer than ConnectionRetryTimeout: nothing is lost, and the next run takes back what
                // this consumer still has pending. Any other error (a refused dead letter, say) stops the host.
                _logger.LogWarning(e, "Redis unreachable; the consumer starts again in 5 s");
                await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}
#endregion
