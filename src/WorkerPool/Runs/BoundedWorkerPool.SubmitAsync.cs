namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>
    /// Runs one job through the pool, within the same pool-wide bound as every other call, and returns its value.
    /// Made for services: register one pool as a singleton and submit each request's job with the request's token.
    /// </summary>
    /// <param name="job">The job.</param>
    /// <param name="cancellationToken">
    /// Cancels the submission. Cancelled while the job waits for a queue slot or a worker, the job never runs; cancelled
    /// after it started, the job's own token is cancelled.
    /// </param>
    /// <returns>
    /// The job's value. The task completes only after the job's <c>work</c> call has ended, however it ends.
    /// </returns>
    /// <exception cref="ObjectDisposedException">The pool has been disposed.</exception>
    /// <exception cref="InvalidOperationException">The pool is draining, and the call does not come from inside one of its jobs.</exception>
    /// <exception cref="OperationCanceledException">
    /// (From the task.) <paramref name="cancellationToken"/> was cancelled, or the pool was disposed (or stopped by a
    /// <see cref="DrainAsync"/> whose token was cancelled), before the job
    /// finished. A token already cancelled gives a cancelled task, and nothing is started.
    /// </exception>
    /// <exception cref="TimeoutException">(From the task.) The job ran longer than <see cref="WorkerPoolOptions.JobTimeout"/>.</exception>
    /// <exception cref="Exception">(From the task.) The job's own exception, as the job threw it.</exception>
    /// <exception cref="WorkerPoolShutdownTimeoutException">
    /// (From the task.) The job ignored cancellation for longer than a finite <see cref="WorkerPoolOptions.ShutdownTimeout"/>.
    /// </exception>
    /// <remarks>
    /// Thread-safe: any number of submissions and runs may share the pool at once, and they are admitted to its queue
    /// first come, first served. The job runs in the ExecutionContext captured by this call.
    /// </remarks>
    public ValueTask<TResult> SubmitAsync(TJob job, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<TResult>(cancellationToken);
        }

        var submission = new Submission(this, cancellationToken);
        Register(submission);
        Submit(submission, job);
        return submission.ValueTask;
    }
}
