namespace WorkerPool;

/// <summary>
/// Thrown when a run is cancelled: by its caller's token (for <c>StreamAsync</c>, also the enumeration's token), by the
/// pool's disposal, by a <see cref="BoundedWorkerPool{TJob, TResult}.DrainAsync"/> whose token was cancelled, or, to a
/// pending <c>MoveNextAsync</c>, by the disposal of its stream's enumerator. It carries every outcome
/// known when the run ended, so that nothing pulled from the source is lost.
/// </summary>
/// <typeparam name="TJob">The type of the jobs.</typeparam>
/// <typeparam name="TResult">The type of the jobs' values.</typeparam>
/// <remarks>
/// From <c>RunAsync</c>, <see cref="Results"/> holds one outcome for every job pulled from the source, in input
/// order: jobs that completed, jobs that failed, and jobs cancelled before they started.
/// From <c>StreamAsync</c>, it holds the outcomes that had not yet been yielded, in input order.
/// When this exception is thrown, no <c>work</c> call of the run is still executing.
/// </remarks>
public sealed class WorkerPoolCanceledException<TJob, TResult> : OperationCanceledException
{
    /// <summary>Creates the exception with a default message and no outcomes.</summary>
    public WorkerPoolCanceledException()
        : this("The run was cancelled.")
    {
    }

    /// <summary>Creates the exception with a message and no outcomes.</summary>
    /// <param name="message">The message.</param>
    public WorkerPoolCanceledException(string message)
        : this(message, innerException: null)
    {
    }

    /// <summary>Creates the exception with a message, an inner exception and no outcomes.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The exception that caused the cancellation, if any.</param>
    public WorkerPoolCanceledException(string message, Exception? innerException)
        : base(message, innerException)
    {
        Results = [];
    }

    /// <summary>Creates the exception for a cancelled run.</summary>
    /// <param name="message">The message.</param>
    /// <param name="results">The outcomes known when the run ended.</param>
    /// <param name="cancellationToken">The token whose cancellation ended the run.</param>
    /// <exception cref="ArgumentNullException"><paramref name="results"/> is <see langword="null"/>.</exception>
    public WorkerPoolCanceledException(string message, IReadOnlyList<JobResult<TJob, TResult>> results, CancellationToken cancellationToken)
        : base(message, cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(results);
        Results = results;
    }

    /// <summary>Gets the outcomes known when the run ended, in input order.</summary>
    /// <value>Never <see langword="null"/>; it may be empty.</value>
    public IReadOnlyList<JobResult<TJob, TResult>> Results { get; }
}
