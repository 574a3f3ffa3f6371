namespace WorkerPool;

/// <summary>
/// How one job ended.
/// </summary>
public enum JobStatus
{
    /// <summary>The job's <c>work</c> call returned a value.</summary>
    Succeeded = 0,

    /// <summary>
    /// The job's <c>work</c> call threw, or returned a faulted or cancelled task for reasons of its own.
    /// <see cref="JobResult{TJob, TResult}.Error"/> holds the exception.
    /// </summary>
    Failed = 1,

    /// <summary>
    /// The job ran longer than <see cref="WorkerPoolOptions.JobTimeout"/> and stopped when its token was cancelled.
    /// <see cref="JobResult{TJob, TResult}.Error"/> holds a <see cref="TimeoutException"/>.
    /// </summary>
    TimedOut = 2,

    /// <summary>
    /// The job's run was cancelled: either before the job started, in which case it never ran and
    /// <see cref="JobResult{TJob, TResult}.Error"/> is <see langword="null"/>, or while it ran, in which case
    /// <see cref="JobResult{TJob, TResult}.Error"/> holds an <see cref="OperationCanceledException"/>.
    /// </summary>
    Canceled = 3,
}
