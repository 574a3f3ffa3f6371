namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>A job pulled from the source and waiting to be claimed, with its position in the input.</summary>
    private readonly record struct QueuedJob(TJob Job, long Index)
    {
        /// <summary>The outcome of this job when it ends without ever starting: cancelled, with no error.</summary>
        public JobResult<TJob, TResult> NeverStarted() => new(Index, Job, JobStatus.Canceled, default, null, TimeSpan.Zero);
    }
}
