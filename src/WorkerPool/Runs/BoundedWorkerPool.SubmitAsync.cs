using System.Runtime.ExceptionServices;

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
    /// (From the task.) <paramref name="cancellationToken"/> was cancelled, or the pool was disposed, before the job
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

        return new ValueTask<TResult>(SubmitCoreAsync(RunAsync([job], cancellationToken)).Unwrap());
    }

    /// <summary>
    /// Waits for the one-job run and returns the task SubmitAsync's value task wraps (unwrapped): it never throws itself,
    /// so that a job that fails with an <see cref="OperationCanceledException"/> of its own ends Faulted, not Canceled.
    /// </summary>
    private static async Task<Task<TResult>> SubmitCoreAsync(Task<IReadOnlyList<JobResult<TJob, TResult>>> run)
    {
        try
        {
            return Task.FromResult(await SubmittedAsync(run).ConfigureAwait(false));
        }
        catch (OperationCanceledException canceled) when (canceled is SubmitCanceledException)
        {
            return CanceledAsync<TResult>(canceled);
        }
        catch (Exception exception)
        {
            return Task.FromException<TResult>(exception);
        }
    }

    private static async Task<TResult> SubmittedAsync(Task<IReadOnlyList<JobResult<TJob, TResult>>> run)
    {
        JobResult<TJob, TResult> result;
        try
        {
            result = (await run.ConfigureAwait(false))[0];
        }
        catch (OperationCanceledException canceled) when (canceled is not WorkerPoolCanceledException<TJob, TResult> && run.IsCanceled)
        {
            // The token was cancelled between this call's check and RunAsync's: nothing was started.
            throw new SubmitCanceledException(canceled.Message, canceled, canceled.CancellationToken);
        }
        catch (WorkerPoolCanceledException<TJob, TResult> canceled)
        {
            // The job may have finished despite the cancellation: then its outcome wins.
            if (canceled.Results.Count == 0 || canceled.Results[0].Status == JobStatus.Canceled)
            {
                throw new SubmitCanceledException(canceled.Message, canceled, canceled.CancellationToken);
            }

            result = canceled.Results[0];
        }

        if (result.Status == JobStatus.Succeeded)
        {
            return result.Value!;
        }

        if (result.Status == JobStatus.Canceled)
        {
            // Cancelled by its caller or by the pool: a cancellation, whatever exception the job unwound with.
            throw new SubmitCanceledException(
                "The submitted job was cancelled.",
                result.Error ?? new OperationCanceledException(),
                (result.Error as OperationCanceledException)?.CancellationToken ?? default);
        }

        ExceptionDispatchInfo.Throw(result.Error!);
        return default;
    }

    /// <summary>The cancellation of a submission, told apart from a job's own <see cref="OperationCanceledException"/>.</summary>
    private sealed class SubmitCanceledException(string message, Exception innerException, CancellationToken token)
        : OperationCanceledException(message, innerException, token);
}
