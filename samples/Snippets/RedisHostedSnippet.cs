#region RedisHosted
using StackExchange.Redis;
using WorkerPool;
using WorkerPool.Redis;
#endregion

namespace Snippets;

internal static class RedisHostedSnippet
{
    internal static void Register(HostApplicationBuilder builder)
    {
        #region RedisHosted
        builder.Services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect("localhost:6379,abortConnect=false"));
        builder.Services.AddRedisStreamWorker<ScaleOutJob, int, ScaleOutJobHandler>("scaleout")
            .BindConfiguration("RedisWorkers:scaleout");   // or .Configure(o => { o.Stream.StreamKey = "{jobs}"; o.Pool.MaxWorkers = 16; })
        builder.Services.AddHealthChecks().AddRedisStreamWorker("scaleout");
        #endregion
    }
}

#region RedisHosted
// Resolved in a new DI scope for each message, so it may depend on scoped services.
internal sealed class ScaleOutJobHandler : IJobHandler<RedisStreamMessage<ScaleOutJob>, int>
{
    public async ValueTask<int> HandleAsync(RedisStreamMessage<ScaleOutJob> message, CancellationToken cancellationToken)
    {
        await Task.Delay(message.Job.DelayMs, cancellationToken);   // cancelled when the host stops: the message stays pending
        return message.Job.Number;
    }
}
#endregion
