using Microsoft.Extensions.Logging;

namespace WorkerPool;

/// <summary>Creates <see cref="BoundedWorkerPool{TJob, TResult}"/> instances from work of other shapes.</summary>
/// <remarks>Thread-safe: each call builds a new, independent pool.</remarks>
public static class BoundedWorkerPool
{
    /// <summary>
    /// Creates a pool whose work returns a <see cref="Task{TResult}"/>, such as an existing <c>Task</c>-returning method:
    /// <c>BoundedWorkerPool.Create&lt;Uri, string&gt;(DownloadAsync)</c>.
    /// </summary>
    /// <typeparam name="TJob">The type of the jobs.</typeparam>
    /// <typeparam name="TResult">The type of the value each job produces.</typeparam>
    /// <param name="work">The work to do for one job, as for the pool's constructor.</param>
    /// <param name="options">The settings; <see langword="null"/> for the defaults. The pool validates them and keeps a copy.</param>
    /// <param name="loggerFactory">Where to log; <see langword="null"/> for no logging.</param>
    /// <returns>The pool, which behaves exactly as one built with the constructor.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="work"/> or <see cref="WorkerPoolOptions.TimeProvider"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names the option and its value.</exception>
    /// <exception cref="ArgumentException"><see cref="WorkerPoolOptions.Name"/> is empty.</exception>
    /// <remarks>
    /// A factory rather than a constructor overload: beside the <see cref="ValueTask{TResult}"/> constructor, a
    /// <see cref="Task{TResult}"/> one would make every <c>async</c> lambda passed to either ambiguous (CS0121).
    /// </remarks>
    public static BoundedWorkerPool<TJob, TResult> Create<TJob, TResult>(
        Func<TJob, CancellationToken, Task<TResult>> work,
        WorkerPoolOptions? options = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        return new BoundedWorkerPool<TJob, TResult>((job, cancellationToken) => new ValueTask<TResult>(work(job, cancellationToken)), options, loggerFactory);
    }
}
