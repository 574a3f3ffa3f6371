using System.Globalization;
using System.Text;

namespace WorkerPool;

/// <summary>
/// Thrown when jobs ignore their cancellation token for longer than <see cref="WorkerPoolOptions.ShutdownTimeout"/>
/// while a run ends (from <c>RunAsync</c>, <c>StreamAsync</c> and <c>SubmitAsync</c>) or while the pool drains (from
/// <see cref="BoundedWorkerPool{TJob, TResult}.DrainAsync"/>). It names every job that was still running, and says how
/// many job sources were still blocked. The pool's own <c>DisposeAsync</c> and <c>Dispose</c> never throw it: they log
/// the same report. (Disposing a stream's enumerator ends its run, and may throw it.)
/// </summary>
/// <remarks>
/// The jobs named here were executing when the timeout elapsed, and may still be: the pool cannot stop code that ignores
/// its token. They stay counted in <see cref="WorkerPoolStatistics.ActiveWorkers"/> until they return, and their
/// outcomes are discarded. Rarely, neither a job nor a source held the work, but something outside the jobs did (a
/// logger or a metrics listener that a worker called after its job, for 200 ms more than the timeout): the exception
/// then names no job, and its message says so.
/// </remarks>
public sealed class WorkerPoolShutdownTimeoutException : TimeoutException
{
    /// <summary>Creates the exception with a default message and no running jobs.</summary>
    public WorkerPoolShutdownTimeoutException()
        : this("Jobs ignored cancellation past the shutdown timeout.")
    {
    }

    /// <summary>Creates the exception with a message and no running jobs.</summary>
    /// <param name="message">The message.</param>
    public WorkerPoolShutdownTimeoutException(string message)
        : this(message, innerException: null)
    {
    }

    /// <summary>Creates the exception with a message, an inner exception and no running jobs.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The exception that was ending the run, if any.</param>
    public WorkerPoolShutdownTimeoutException(string message, Exception? innerException)
        : base(message, innerException)
    {
        PoolName = string.Empty;
        RunningJobs = [];
    }

    /// <summary>Creates the exception for the jobs still running in a pool.</summary>
    /// <param name="poolName">The pool's name.</param>
    /// <param name="shutdownTimeout">The timeout that elapsed.</param>
    /// <param name="runningJobs">The jobs still running.</param>
    /// <param name="innerException">The exception that was ending the run, if any.</param>
    /// <exception cref="ArgumentNullException"><paramref name="poolName"/> or <paramref name="runningJobs"/> is <see langword="null"/>.</exception>
    public WorkerPoolShutdownTimeoutException(string poolName, TimeSpan shutdownTimeout, IReadOnlyList<RunningJobInfo> runningJobs, Exception? innerException)
        : this(poolName, shutdownTimeout, runningJobs, sourcesStuck: 0, heldOutsideJobs: false, innerException)
    {
    }

    /// <summary>
    /// Creates the exception for the jobs, and the job sources, that ignored cancellation; or, with
    /// <paramref name="heldOutsideJobs"/>, for work that neither held.
    /// </summary>
    internal WorkerPoolShutdownTimeoutException(string poolName, TimeSpan shutdownTimeout, IReadOnlyList<RunningJobInfo> runningJobs, int sourcesStuck, bool heldOutsideJobs, Exception? innerException)
        : base(FormatMessage(poolName, shutdownTimeout, runningJobs, sourcesStuck, heldOutsideJobs), innerException)
    {
        PoolName = poolName;
        RunningJobs = runningJobs;
    }

    /// <summary>Gets the name of the pool whose jobs ignored cancellation.</summary>
    /// <value>The pool's <see cref="WorkerPoolOptions.Name"/>.</value>
    public string PoolName { get; }

    /// <summary>Gets the jobs that were still running when the timeout elapsed.</summary>
    /// <value>One entry per job, in index order, with its index and how long it had run; empty when only blocked job sources, or something outside the jobs, held the work.</value>
    public IReadOnlyList<RunningJobInfo> RunningJobs { get; }

    private static string FormatMessage(string poolName, TimeSpan shutdownTimeout, IReadOnlyList<RunningJobInfo> runningJobs, int sourcesStuck, bool heldOutsideJobs)
    {
        ArgumentNullException.ThrowIfNull(poolName);
        ArgumentNullException.ThrowIfNull(runningJobs);
        if (heldOutsideJobs)
        {
            return string.Create(
                CultureInfo.InvariantCulture,
                $"The work of pool '{poolName}' did not stop within the shutdown timeout of {shutdownTimeout}, though no job was running and no job source was blocked: something outside the jobs held it, such as a logger or a metrics listener that a worker called after its job.");
        }

        var text = new StringBuilder();
        if (sourcesStuck > 0)
        {
            // A synchronous source blocked in MoveNext (or an enumerator's Dispose) holds its run: no job does.
            text.Append(CultureInfo.InvariantCulture, $"{sourcesStuck} job source(s) of pool '{poolName}' ignored cancellation for longer than the shutdown timeout of {shutdownTimeout}, and still hold their run.");
            if (runningJobs.Count == 0)
            {
                return text.ToString();
            }

            text.Append(' ');
        }

        text.Append(CultureInfo.InvariantCulture, $"{runningJobs.Count} job(s) of pool '{poolName}' ignored cancellation for longer than the shutdown timeout of {shutdownTimeout}:");
        foreach (RunningJobInfo job in runningJobs)
        {
            text.Append(' ').Append(job.DescribeInPool()).Append(';');
        }

        return text.ToString();
    }
}
