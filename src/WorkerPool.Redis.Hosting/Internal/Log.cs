using Microsoft.Extensions.Logging;

namespace WorkerPool.Redis.Hosting.Internal;

/// <summary>
/// Every log message of the package (category <c>WorkerPool.Redis.Hosting</c>). EventIds are stable, and distinct from
/// those of the core (1–14) and of WorkerPool.Redis (101–112).
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 201, EventName = "WorkerStarted", Level = LogLevel.Information,
        Message = "Redis stream worker '{WorkerName}' started: consumer {Consumer} of group {Group} reads stream {Stream}")]
    public static partial void WorkerStarted(ILogger logger, string workerName, string consumer, string group, string stream);

    [LoggerMessage(EventId = 202, EventName = "WorkerWaitingToRestart", Level = LogLevel.Warning,
        Message = "Redis stream worker '{WorkerName}' stopped its run: Redis stayed unreachable past the connection retry timeout. Its unacknowledged messages stay pending; it runs again in {DelayMs:0} ms")]
    public static partial void WorkerWaitingToRestart(ILogger logger, Exception exception, string workerName, double delayMs);

    [LoggerMessage(EventId = 203, EventName = "WorkerRestarting", Level = LogLevel.Information,
        Message = "Redis stream worker '{WorkerName}' runs again (restart {Restarts})")]
    public static partial void WorkerRestarting(ILogger logger, string workerName, int restarts);

    [LoggerMessage(EventId = 204, EventName = "WorkerStopped", Level = LogLevel.Information,
        Message = "Redis stream worker '{WorkerName}' stopped with the host; its unacknowledged messages stay pending")]
    public static partial void WorkerStopped(ILogger logger, string workerName);

    [LoggerMessage(EventId = 205, EventName = "WorkerFailed", Level = LogLevel.Critical,
        Message = "Redis stream worker '{WorkerName}' stopped on an error it does not recover from, and does not run again; its unacknowledged messages stay pending")]
    public static partial void WorkerFailed(ILogger logger, Exception exception, string workerName);

    [LoggerMessage(EventId = 206, EventName = "WorkerStoppedPastShutdownTimeout", Level = LogLevel.Warning,
        Message = "Redis stream worker '{WorkerName}' stopped with the host, but {RunningJobs} job(s) ignored cancellation past the pool's shutdown timeout and may still run; their messages stay pending")]
    public static partial void WorkerStoppedPastShutdownTimeout(ILogger logger, Exception exception, string workerName, int runningJobs);
}
