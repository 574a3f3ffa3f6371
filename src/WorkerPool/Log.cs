using Microsoft.Extensions.Logging;

namespace WorkerPool;

/// <summary>
/// Every log message the pool writes. EventIds are stable: dashboards and alerts may depend on them.
/// The generated methods check <see cref="ILogger.IsEnabled(LogLevel)"/> first, so a disabled level costs
/// no formatting and no boxing.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, EventName = "RunStarted", Level = LogLevel.Debug,
        Message = "Pool {PoolName}: run started")]
    public static partial void RunStarted(ILogger logger, string poolName);

    [LoggerMessage(EventId = 2, EventName = "RunEnded", Level = LogLevel.Debug,
        Message = "Pool {PoolName}: run ended as {Outcome} after {JobCount} job(s) in {ElapsedMs:0.###} ms")]
    public static partial void RunEnded(ILogger logger, string poolName, string outcome, long jobCount, double elapsedMs);

    [LoggerMessage(EventId = 3, EventName = "JobFailed", Level = LogLevel.Debug,
        Message = "Pool {PoolName}: job #{JobIndex} failed; the run goes on")]
    public static partial void JobFailed(ILogger logger, string poolName, long jobIndex, Exception exception);

    [LoggerMessage(EventId = 4, EventName = "RunStoppedOnFirstError", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: job #{JobIndex} failed; stopping the run")]
    public static partial void RunStoppedOnFirstError(ILogger logger, string poolName, long jobIndex, Exception exception);

    [LoggerMessage(EventId = 5, EventName = "JobTimedOut", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: job #{JobIndex} exceeded its timeout of {TimeoutMs:0.###} ms and was cancelled")]
    public static partial void JobTimedOut(ILogger logger, string poolName, long jobIndex, double timeoutMs);

    [LoggerMessage(EventId = 6, EventName = "ShutdownTimeoutExceeded", Level = LogLevel.Error,
        Message = "Pool {PoolName}: job #{JobIndex} ignored cancellation and has run for {ElapsedMs:0} ms, past the shutdown timeout of {ShutdownTimeoutMs:0} ms")]
    public static partial void ShutdownTimeoutExceeded(ILogger logger, string poolName, long jobIndex, double elapsedMs, double shutdownTimeoutMs);

    [LoggerMessage(EventId = 7, EventName = "DisposedWithWorkInFlight", Level = LogLevel.Information,
        Message = "Pool {PoolName}: disposed with {RunCount} run(s) and {RunningJobs} job(s) in flight; cancelling them")]
    public static partial void DisposedWithWorkInFlight(ILogger logger, string poolName, int runCount, int runningJobs);

    [LoggerMessage(EventId = 8, EventName = "SourceFailed", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: the job source threw; stopping the run")]
    public static partial void SourceFailed(ILogger logger, string poolName, Exception exception);

    [LoggerMessage(EventId = 9, EventName = "SourceIgnoredCancellation", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: the asynchronous job source had not answered when its run was cancelled; the run ended without waiting for it, and anything it yields now is not taken")]
    public static partial void SourceIgnoredCancellation(ILogger logger, string poolName);
}
