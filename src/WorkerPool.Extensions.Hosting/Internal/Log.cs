using Microsoft.Extensions.Logging;

namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>The package's log messages. Event ids are stable.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, EventName = "PoolDrained", Level = LogLevel.Debug,
        Message = "Worker pool '{PoolName}' drained: its runs in flight finished before the host's shutdown timeout")]
    public static partial void PoolDrained(ILogger logger, string poolName);

    [LoggerMessage(EventId = 2, EventName = "PoolDrainCanceledRuns", Level = LogLevel.Warning,
        Message = "Worker pool '{PoolName}' drained: the host's shutdown timeout elapsed, so its runs still in flight were cancelled")]
    public static partial void PoolDrainCanceledRuns(ILogger logger, string poolName);

    [LoggerMessage(EventId = 3, EventName = "PoolDrainFailed", Level = LogLevel.Error,
        Message = "Worker pool '{PoolName}' could not be drained")]
    public static partial void PoolDrainFailed(ILogger logger, Exception exception, string poolName);
}
