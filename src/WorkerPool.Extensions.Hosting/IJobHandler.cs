namespace WorkerPool;

/// <summary>
/// Does the work of one job of a pool registered with
/// <c>AddWorkerPool&lt;TJob, TResult, THandler&gt;</c>. The pool resolves the handler from a new dependency injection
/// scope for each job, so a handler may depend on scoped services (a database context, say); the scope, and every
/// service it created, is disposed when the job ends, however it ends.
/// </summary>
/// <typeparam name="TJob">The type of the jobs.</typeparam>
/// <typeparam name="TResult">The type of the value each job produces.</typeparam>
/// <remarks>
/// Each job gets its own handler instance when the handler is registered as scoped or transient (the default
/// registration is scoped), so an implementation need not be thread-safe. A handler registered as a singleton is
/// shared by every worker, and must be.
/// </remarks>
public interface IJobHandler<TJob, TResult>
{
    /// <summary>Does the work of one job.</summary>
    /// <param name="job">The job.</param>
    /// <param name="cancellationToken">
    /// Cancelled when the job's run is cancelled or fails, when <see cref="WorkerPoolOptions.JobTimeout"/> elapses, and when
    /// the pool is drained past the host's shutdown timeout or disposed. Observe it: a job that ignores it is waited for.
    /// </param>
    /// <returns>The job's result.</returns>
    ValueTask<TResult> HandleAsync(TJob job, CancellationToken cancellationToken);
}
