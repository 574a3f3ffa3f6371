using Microsoft.Extensions.Logging;

namespace WorkerPool;

/// <summary>
/// Every log message the pool writes. EventIds are stable: dashboards and alerts may depend on them.
/// The generated methods check <see cref="ILogger.IsEnabled(LogLevel)"/> first, so a disabled level costs
/// no formatting and no boxing.
/// </summary>
/// <remarks>
/// Every public method here swallows what the logging provider throws: a faulty provider loses its own log lines, and
/// never kills a worker, skips a run's finish or hangs disposal.
/// </remarks>
#pragma warning disable CA1031 // See remarks.
internal static partial class Log
{
    [LoggerMessage(EventId = 1, EventName = "RunStarted", Level = LogLevel.Debug,
        Message = "Pool {PoolName}: run started")]
    private static partial void RunStartedCore(ILogger logger, string poolName);

    [LoggerMessage(EventId = 2, EventName = "RunEnded", Level = LogLevel.Debug,
        Message = "Pool {PoolName}: run ended as {Outcome} after {JobCount} job(s) in {ElapsedMs:0.###} ms")]
    private static partial void RunEndedCore(ILogger logger, string poolName, string outcome, long jobCount, double elapsedMs);

    [LoggerMessage(EventId = 3, EventName = "JobFailed", Level = LogLevel.Debug,
        Message = "Pool {PoolName}: job #{JobIndex} failed; the run goes on")]
    private static partial void JobFailedCore(ILogger logger, string poolName, long jobIndex, Exception exception);

    [LoggerMessage(EventId = 4, EventName = "RunStoppedOnFirstError", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: job #{JobIndex} failed; stopping the run")]
    private static partial void RunStoppedOnFirstErrorCore(ILogger logger, string poolName, long jobIndex, Exception exception);

    [LoggerMessage(EventId = 5, EventName = "JobTimedOut", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: job #{JobIndex} exceeded its timeout of {TimeoutMs:0.###} ms and was cancelled")]
    private static partial void JobTimedOutCore(ILogger logger, string poolName, long jobIndex, double timeoutMs);

    [LoggerMessage(EventId = 6, EventName = "ShutdownTimeoutExceeded", Level = LogLevel.Error,
        Message = "Pool {PoolName}: job #{JobIndex} ignored cancellation and has run for {ElapsedMs:0} ms, past the shutdown timeout of {ShutdownTimeoutMs:0} ms")]
    private static partial void ShutdownTimeoutExceededCore(ILogger logger, string poolName, long jobIndex, double elapsedMs, double shutdownTimeoutMs);

    [LoggerMessage(EventId = 7, EventName = "DisposedWithWorkInFlight", Level = LogLevel.Information,
        Message = "Pool {PoolName}: disposed with {RunCount} run(s) and {RunningJobs} job(s) in flight; cancelling them")]
    private static partial void DisposedWithWorkInFlightCore(ILogger logger, string poolName, int runCount, int runningJobs);

    [LoggerMessage(EventId = 8, EventName = "SourceFailed", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: the job source threw; stopping the run")]
    private static partial void SourceFailedCore(ILogger logger, string poolName, Exception exception);

    [LoggerMessage(EventId = 9, EventName = "SourceIgnoredCancellation", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: the asynchronous job source had not answered when its run was cancelled; the run ended without waiting for it, and anything it yields now is not taken")]
    private static partial void SourceIgnoredCancellationCore(ILogger logger, string poolName);

    /// <summary>Logs <c>RunStarted</c>; never throws.</summary>
    public static void RunStarted(ILogger logger, string poolName)
    {
        try
        {
            RunStartedCore(logger, poolName);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Logs <c>RunEnded</c>; never throws.</summary>
    public static void RunEnded(ILogger logger, string poolName, string outcome, long jobCount, double elapsedMs)
    {
        try
        {
            RunEndedCore(logger, poolName, outcome, jobCount, elapsedMs);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Logs <c>JobFailed</c>; never throws.</summary>
    public static void JobFailed(ILogger logger, string poolName, long jobIndex, Exception exception)
    {
        try
        {
            JobFailedCore(logger, poolName, jobIndex, exception);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Logs <c>RunStoppedOnFirstError</c>; never throws.</summary>
    public static void RunStoppedOnFirstError(ILogger logger, string poolName, long jobIndex, Exception exception)
    {
        try
        {
            RunStoppedOnFirstErrorCore(logger, poolName, jobIndex, exception);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Logs <c>JobTimedOut</c>; never throws.</summary>
    public static void JobTimedOut(ILogger logger, string poolName, long jobIndex, double timeoutMs)
    {
        try
        {
            JobTimedOutCore(logger, poolName, jobIndex, timeoutMs);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Logs <c>ShutdownTimeoutExceeded</c>; never throws.</summary>
    public static void ShutdownTimeoutExceeded(ILogger logger, string poolName, long jobIndex, double elapsedMs, double shutdownTimeoutMs)
    {
        try
        {
            ShutdownTimeoutExceededCore(logger, poolName, jobIndex, elapsedMs, shutdownTimeoutMs);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Logs <c>DisposedWithWorkInFlight</c>; never throws.</summary>
    public static void DisposedWithWorkInFlight(ILogger logger, string poolName, int runCount, int runningJobs)
    {
        try
        {
            DisposedWithWorkInFlightCore(logger, poolName, runCount, runningJobs);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Logs <c>SourceFailed</c>; never throws.</summary>
    public static void SourceFailed(ILogger logger, string poolName, Exception exception)
    {
        try
        {
            SourceFailedCore(logger, poolName, exception);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Logs <c>SourceIgnoredCancellation</c>; never throws.</summary>
    public static void SourceIgnoredCancellation(ILogger logger, string poolName)
    {
        try
        {
            SourceIgnoredCancellationCore(logger, poolName);
        }
        catch (Exception)
        {
        }
    }

    [LoggerMessage(EventId = 10, EventName = "SourceDisposeFailed", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: disposing the job source threw after the source had failed; the source's own exception is the run's error")]
    private static partial void SourceDisposeFailedCore(ILogger logger, string poolName, Exception exception);

    [LoggerMessage(EventId = 11, EventName = "SourceIgnoredShutdown", Level = LogLevel.Error,
        Message = "Pool {PoolName}: the job source ignored cancellation and had not returned after the shutdown timeout of {ShutdownTimeoutMs:0} ms; it holds its run")]
    private static partial void SourceIgnoredShutdownCore(ILogger logger, string poolName, double shutdownTimeoutMs);

    /// <summary>Logs <c>SourceDisposeFailed</c>; never throws.</summary>
    public static void SourceDisposeFailed(ILogger logger, string poolName, Exception exception)
    {
        try
        {
            SourceDisposeFailedCore(logger, poolName, exception);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Logs <c>SourceIgnoredShutdown</c>; never throws.</summary>
    public static void SourceIgnoredShutdown(ILogger logger, string poolName, double shutdownTimeoutMs)
    {
        try
        {
            SourceIgnoredShutdownCore(logger, poolName, shutdownTimeoutMs);
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Whether <paramref name="level"/> is enabled; <see langword="false"/> if the logger throws.</summary>
    public static bool IsEnabled(ILogger logger, LogLevel level)
    {
        try
        {
            return logger.IsEnabled(level);
        }
        catch (Exception)
        {
            return false;
        }
    }

}
#pragma warning restore CA1031
