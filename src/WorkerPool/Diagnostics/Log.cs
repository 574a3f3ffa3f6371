using Microsoft.Extensions.Logging;

namespace WorkerPool;

/// <summary>
/// Every log message the pool writes. EventIds are stable: dashboards and alerts may depend on them.
/// Each public method checks <see cref="ILogger.IsEnabled(LogLevel)"/> first, so a disabled level costs no formatting,
/// no boxing and no scope. A message about a run is written inside a scope that carries the pool's name and the run's
/// id (<c>PoolName</c>, <c>RunId</c>), so that every line of one run can be found together.
/// </summary>
/// <remarks>
/// Every public method here swallows what the logging provider throws: a faulty provider loses its own log lines, and
/// never kills a worker, skips a run's finish or hangs disposal.
/// </remarks>
#pragma warning disable CA1031 // See remarks.
internal static partial class Log
{
    [LoggerMessage(EventId = 1, EventName = "RunStarted", Level = LogLevel.Debug,
        Message = "Pool {PoolName}: run {RunId} started")]
    private static partial void RunStartedCore(ILogger logger, string poolName, long runId);

    [LoggerMessage(EventId = 2, EventName = "RunEnded", Level = LogLevel.Debug,
        Message = "Pool {PoolName}: run {RunId} ended as {Outcome} after {JobCount} job(s), {UnsuccessfulCount} of them failed or timed out, in {ElapsedMs:0.###} ms")]
    private static partial void RunEndedCore(ILogger logger, string poolName, long runId, string outcome, long jobCount, long unsuccessfulCount, double elapsedMs);

    [LoggerMessage(EventId = 3, EventName = "JobFailed", Level = LogLevel.Debug,
        Message = "Pool {PoolName}: run {RunId} job #{JobIndex} failed; the run goes on")]
    private static partial void JobFailedCore(ILogger logger, string poolName, long runId, long jobIndex, Exception exception);

    [LoggerMessage(EventId = 4, EventName = "RunStoppedOnFirstError", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: run {RunId} job #{JobIndex} failed; stopping the run")]
    private static partial void RunStoppedOnFirstErrorCore(ILogger logger, string poolName, long runId, long jobIndex, Exception exception);

    [LoggerMessage(EventId = 5, EventName = "JobTimedOut", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: run {RunId} job #{JobIndex} exceeded its timeout of {TimeoutMs:0.###} ms and was cancelled")]
    private static partial void JobTimedOutCore(ILogger logger, string poolName, long runId, long jobIndex, double timeoutMs);

    [LoggerMessage(EventId = 6, EventName = "ShutdownTimeoutExceeded", Level = LogLevel.Error,
        Message = "Pool {PoolName}: run {RunId} job #{JobIndex} ignored cancellation and has run for {ElapsedMs:0} ms, past the shutdown timeout of {ShutdownTimeoutMs:0} ms")]
    private static partial void ShutdownTimeoutExceededCore(ILogger logger, string poolName, long runId, long jobIndex, double elapsedMs, double shutdownTimeoutMs);

    [LoggerMessage(EventId = 7, EventName = "DisposedWithWorkInFlight", Level = LogLevel.Information,
        Message = "Pool {PoolName}: disposed with {RunCount} run(s) and {RunningJobs} job(s) in flight; cancelling them")]
    private static partial void DisposedWithWorkInFlightCore(ILogger logger, string poolName, int runCount, int runningJobs);

    [LoggerMessage(EventId = 8, EventName = "SourceFailed", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: run {RunId}: the job source threw; stopping the run")]
    private static partial void SourceFailedCore(ILogger logger, string poolName, long runId, Exception exception);

    [LoggerMessage(EventId = 9, EventName = "SourceIgnoredCancellation", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: run {RunId}: the asynchronous job source had not answered {ShutdownTimeoutMs:0} ms (the shutdown timeout) after its run was cancelled; the run ended without waiting for it, and anything it yields now is not taken")]
    private static partial void SourceIgnoredCancellationCore(ILogger logger, string poolName, long runId, double shutdownTimeoutMs);

    [LoggerMessage(EventId = 10, EventName = "SourceDisposeFailed", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: run {RunId}: disposing the job source threw after the source had failed; the source's own exception is the run's error")]
    private static partial void SourceDisposeFailedCore(ILogger logger, string poolName, long runId, Exception exception);

    [LoggerMessage(EventId = 11, EventName = "SourceIgnoredShutdown", Level = LogLevel.Error,
        Message = "Pool {PoolName}: run {RunId}: the job source ignored cancellation and had not returned after the shutdown timeout of {ShutdownTimeoutMs:0} ms; it holds its run")]
    private static partial void SourceIgnoredShutdownCore(ILogger logger, string poolName, long runId, double shutdownTimeoutMs);

    [LoggerMessage(EventId = 12, EventName = "WorkHeldPastShutdown", Level = LogLevel.Error,
        Message = "Pool {PoolName}: run {RunId}: the work did not stop within the shutdown timeout of {ShutdownTimeoutMs:0} ms, though no job was running and no job source was blocked; something outside the jobs held it, such as a logger or a metrics listener that a worker called after its job")]
    private static partial void WorkHeldPastShutdownCore(ILogger logger, string poolName, long runId, double shutdownTimeoutMs);

    [LoggerMessage(EventId = 13, EventName = "SourceYieldedAfterCancellation", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: run {RunId}: the asynchronous job source yielded a job after its run was cancelled and had ended without waiting for it; that job was not taken")]
    private static partial void SourceYieldedAfterCancellationCore(ILogger logger, string poolName, long runId);

    [LoggerMessage(EventId = 14, EventName = "SourceSilentAtDisposal", Level = LogLevel.Warning,
        Message = "Pool {PoolName}: run {RunId}: the asynchronous job source still had not answered its run's cancellation when the pool was disposed; the pool does not wait for it, and whatever its MoveNextAsync holds stays held until it returns")]
    private static partial void SourceSilentAtDisposalCore(ILogger logger, string poolName, long runId);

    private static readonly Func<ILogger, string, long, IDisposable?> RunScope =
        LoggerMessage.DefineScope<string, long>("Pool {PoolName} run {RunId}");

    public static void RunStarted(ILogger logger, string poolName, long runId) =>
        Write(logger, LogLevel.Debug, poolName, runId, 0, static (logger, poolName, runId, _) => RunStartedCore(logger, poolName, runId));

    public static void RunEnded(ILogger logger, string poolName, long runId, string outcome, long jobCount, long unsuccessfulCount, double elapsedMs) =>
        Write(logger, LogLevel.Debug, poolName, runId, (outcome, jobCount, unsuccessfulCount, elapsedMs), static (logger, poolName, runId, s) => RunEndedCore(logger, poolName, runId, s.outcome, s.jobCount, s.unsuccessfulCount, s.elapsedMs));

    public static void JobFailed(ILogger logger, string poolName, long runId, long jobIndex, Exception exception) =>
        Write(logger, LogLevel.Debug, poolName, runId, (jobIndex, exception), static (logger, poolName, runId, s) => JobFailedCore(logger, poolName, runId, s.jobIndex, s.exception));

    public static void RunStoppedOnFirstError(ILogger logger, string poolName, long runId, long jobIndex, Exception exception) =>
        Write(logger, LogLevel.Warning, poolName, runId, (jobIndex, exception), static (logger, poolName, runId, s) => RunStoppedOnFirstErrorCore(logger, poolName, runId, s.jobIndex, s.exception));

    public static void JobTimedOut(ILogger logger, string poolName, long runId, long jobIndex, double timeoutMs) =>
        Write(logger, LogLevel.Warning, poolName, runId, (jobIndex, timeoutMs), static (logger, poolName, runId, s) => JobTimedOutCore(logger, poolName, runId, s.jobIndex, s.timeoutMs));

    public static void ShutdownTimeoutExceeded(ILogger logger, string poolName, long runId, long jobIndex, double elapsedMs, double shutdownTimeoutMs) =>
        Write(logger, LogLevel.Error, poolName, runId, (jobIndex, elapsedMs, shutdownTimeoutMs), static (logger, poolName, runId, s) => ShutdownTimeoutExceededCore(logger, poolName, runId, s.jobIndex, s.elapsedMs, s.shutdownTimeoutMs));

    public static void DisposedWithWorkInFlight(ILogger logger, string poolName, int runCount, int runningJobs) =>
        Write(logger, LogLevel.Information, poolName, runId: 0, (runCount, runningJobs), static (logger, poolName, _, s) => DisposedWithWorkInFlightCore(logger, poolName, s.runCount, s.runningJobs));

    public static void SourceFailed(ILogger logger, string poolName, long runId, Exception exception) =>
        Write(logger, LogLevel.Warning, poolName, runId, exception, static (logger, poolName, runId, s) => SourceFailedCore(logger, poolName, runId, s));

    public static void SourceIgnoredCancellation(ILogger logger, string poolName, long runId, double shutdownTimeoutMs) =>
        Write(logger, LogLevel.Warning, poolName, runId, shutdownTimeoutMs, static (logger, poolName, runId, s) => SourceIgnoredCancellationCore(logger, poolName, runId, s));

    public static void SourceYieldedAfterCancellation(ILogger logger, string poolName, long runId) =>
        Write(logger, LogLevel.Warning, poolName, runId, 0, static (logger, poolName, runId, _) => SourceYieldedAfterCancellationCore(logger, poolName, runId));

    public static void SourceSilentAtDisposal(ILogger logger, string poolName, long runId) =>
        Write(logger, LogLevel.Warning, poolName, runId, 0, static (logger, poolName, runId, _) => SourceSilentAtDisposalCore(logger, poolName, runId));

    public static void SourceDisposeFailed(ILogger logger, string poolName, long runId, Exception exception) =>
        Write(logger, LogLevel.Warning, poolName, runId, exception, static (logger, poolName, runId, s) => SourceDisposeFailedCore(logger, poolName, runId, s));

    public static void SourceIgnoredShutdown(ILogger logger, string poolName, long runId, double shutdownTimeoutMs) =>
        Write(logger, LogLevel.Error, poolName, runId, shutdownTimeoutMs, static (logger, poolName, runId, s) => SourceIgnoredShutdownCore(logger, poolName, runId, s));

    public static void WorkHeldPastShutdown(ILogger logger, string poolName, long runId, double shutdownTimeoutMs) =>
        Write(logger, LogLevel.Error, poolName, runId, shutdownTimeoutMs, static (logger, poolName, runId, s) => WorkHeldPastShutdownCore(logger, poolName, runId, s));

    /// <summary>Whether <paramref name="level"/> is enabled; <see langword="false"/> if the logger throws.</summary>
    public static bool IsEnabled(ILogger logger, LogLevel level)
    {
        try
        {
            return logger.IsEnabled(level);
        }
        catch (Exception)
        {
            // Stryker disable once Boolean : a logger whose IsEnabled throws writes nothing either way: Write asks it again and catches
            return false;
        }
    }

    /// <summary>
    /// Writes one message if its level is enabled, inside the run's scope (none for <paramref name="runId"/> 0). Never
    /// throws. The state is passed through, and <paramref name="write"/> is static: a call allocates nothing of its own.
    /// </summary>
    private static void Write<TState>(ILogger logger, LogLevel level, string poolName, long runId, TState state, Action<ILogger, string, long, TState> write)
    {
        try
        {
            if (!logger.IsEnabled(level))
            {
                return;
            }

            using IDisposable? scope = runId > 0 ? RunScope(logger, poolName, runId) : null;
            write(logger, poolName, runId, state);
        }
        catch (Exception)
        {
        }
    }
}
#pragma warning restore CA1031
