namespace WorkerPool;

/// <summary>
/// Decides what a run does when one of its jobs fails.
/// </summary>
public enum ErrorMode
{
    /// <summary>
    /// A failed job is recorded in its <see cref="JobResult{TJob, TResult}"/> with status
    /// <see cref="JobStatus.Failed"/>, and the run goes on. This is the default.
    /// </summary>
    Collect = 0,

    /// <summary>
    /// The first failed job cancels the rest of its run. Once every job of the run has stopped,
    /// the run throws that job's exception, the root cause, rather than a cancellation it caused itself.
    /// </summary>
    StopOnFirstError = 1,
}
