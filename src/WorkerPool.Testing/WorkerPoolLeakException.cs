using System.Globalization;
using System.Text;

namespace WorkerPool.Testing;

/// <summary>
/// Thrown by <see cref="WorkerPoolLeakCheck"/> when pool workers are still alive after the check's grace period.
/// The message names each one: its pool, and the job it is running with its run, index and running time (and the job's
/// text, only when the pool has a <see cref="WorkerPoolOptions.JobFormatter"/>).
/// </summary>
public sealed class WorkerPoolLeakException : Exception
{
    /// <summary>Creates the exception with a default message and no leaks.</summary>
    public WorkerPoolLeakException()
        : this("Pool workers outlived their owner.")
    {
    }

    /// <summary>Creates the exception with a message and no leaks.</summary>
    /// <param name="message">The message.</param>
    public WorkerPoolLeakException(string message)
        : this(message, innerException: null)
    {
    }

    /// <summary>Creates the exception with a message, an inner exception and no leaks.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause, if any.</param>
    public WorkerPoolLeakException(string message, Exception? innerException)
        : base(message, innerException)
    {
        Leaks = [];
    }

    /// <summary>Creates the exception for the workers found alive.</summary>
    /// <param name="leaks">The workers still alive after the grace period.</param>
    /// <param name="waited">How long the check waited for them to end.</param>
    /// <exception cref="ArgumentNullException"><paramref name="leaks"/> is <see langword="null"/>.</exception>
    public WorkerPoolLeakException(IReadOnlyList<LiveWorkerInfo> leaks, TimeSpan waited)
        : base(FormatMessage(leaks, waited))
    {
        Leaks = leaks;
    }

    /// <summary>Gets the workers that were still alive.</summary>
    /// <value>One entry per leaked worker.</value>
    public IReadOnlyList<LiveWorkerInfo> Leaks { get; }

    private static string FormatMessage(IReadOnlyList<LiveWorkerInfo> leaks, TimeSpan waited)
    {
        ArgumentNullException.ThrowIfNull(leaks);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{leaks.Count} pool worker(s) still alive after {waited.TotalMilliseconds:0} ms:");
        foreach (LiveWorkerInfo leak in leaks)
        {
            text.AppendLine().Append("  ").Append(leak.ToString());
        }

        return text.ToString();
    }
}
