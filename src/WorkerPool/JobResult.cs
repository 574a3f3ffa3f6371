using System.Diagnostics;
using System.Runtime.InteropServices;

namespace WorkerPool;

/// <summary>
/// The outcome of one job: the job itself, its position in the input, how it ended and what it produced.
/// </summary>
/// <typeparam name="TJob">The type of the job.</typeparam>
/// <typeparam name="TResult">The type of the value a successful job produces.</typeparam>
/// <remarks>This is an immutable value; it is safe to share between threads.</remarks>
[StructLayout(LayoutKind.Auto)]
[DebuggerDisplay("#{Index} {Status}")]
public readonly struct JobResult<TJob, TResult> : IEquatable<JobResult<TJob, TResult>>
{
    /// <summary>
    /// Creates an outcome. The pool creates these; the constructor is public so that code which consumes
    /// results can be tested without a pool.
    /// </summary>
    /// <param name="index">The 0-based position of the job in its input.</param>
    /// <param name="job">The job.</param>
    /// <param name="status">How the job ended.</param>
    /// <param name="value">The value produced, for <see cref="JobStatus.Succeeded"/>.</param>
    /// <param name="error">The exception the job ended with, if any.</param>
    /// <param name="duration">How long the job's <c>work</c> call ran.</param>
    public JobResult(long index, TJob job, JobStatus status, TResult? value, Exception? error, TimeSpan duration)
    {
        Index = index;
        Job = job;
        Status = status;
        Value = value;
        Error = error;
        Duration = duration;
    }

    /// <summary>Gets the 0-based position of the job in the input of its run.</summary>
    /// <value>The index of the job in the order the source produced it.</value>
    public long Index { get; }

    /// <summary>Gets the job.</summary>
    /// <value>The job exactly as the source produced it; it may be <see langword="null"/>.</value>
    public TJob Job { get; }

    /// <summary>Gets how the job ended.</summary>
    /// <value>One of the <see cref="JobStatus"/> values.</value>
    public JobStatus Status { get; }

    /// <summary>Gets the value the job produced.</summary>
    /// <value>The value for <see cref="JobStatus.Succeeded"/>; otherwise <see langword="default"/>.</value>
    public TResult? Value { get; }

    /// <summary>Gets the exception the job ended with.</summary>
    /// <value>
    /// The job's exception for <see cref="JobStatus.Failed"/>, a <see cref="TimeoutException"/> for
    /// <see cref="JobStatus.TimedOut"/>, an <see cref="OperationCanceledException"/> for a job cancelled while it ran
    /// (if its task ended cancelled, a <see cref="TaskCanceledException"/> the pool makes, carrying the run's token:
    /// the pool does not rethrow the task's own),
    /// and <see langword="null"/> for a job that succeeded or never started.
    /// </value>
    public Exception? Error { get; }

    /// <summary>Gets how long the job's <c>work</c> call ran.</summary>
    /// <value>
    /// The time from when its worker began the job to the end of its <c>work</c> call, on the pool's
    /// <see cref="WorkerPoolOptions.TimeProvider"/>; <see cref="TimeSpan.Zero"/> if it never started. A worker that goes
    /// straight from a succeeded job to the next job of the same call reads the clock once between them, so the next job's
    /// time also holds the worker's hand-over from one to the other (taking the job from the queue); after a job that did
    /// not succeed, when it moves to another call's job, or while a listener records the per-job metrics, it reads the
    /// clock afresh.
    /// </value>
    public TimeSpan Duration { get; }

    /// <summary>Gets whether the job succeeded.</summary>
    /// <value><see langword="true"/> when <see cref="Status"/> is <see cref="JobStatus.Succeeded"/>.</value>
    public bool IsSuccess => Status == JobStatus.Succeeded;

    /// <inheritdoc />
    public bool Equals(JobResult<TJob, TResult> other) =>
        Index == other.Index
        && Status == other.Status
        && Duration == other.Duration
        && ReferenceEquals(Error, other.Error)
        && EqualityComparer<TJob>.Default.Equals(Job, other.Job)
        && EqualityComparer<TResult?>.Default.Equals(Value, other.Value);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is JobResult<TJob, TResult> other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Index, Status, Job, Value);

    /// <summary>Compares two outcomes for equality.</summary>
    /// <param name="left">The first outcome.</param>
    /// <param name="right">The second outcome.</param>
    /// <returns><see langword="true"/> when both describe the same outcome.</returns>
    public static bool operator ==(JobResult<TJob, TResult> left, JobResult<TJob, TResult> right) => left.Equals(right);

    /// <summary>Compares two outcomes for inequality.</summary>
    /// <param name="left">The first outcome.</param>
    /// <param name="right">The second outcome.</param>
    /// <returns><see langword="true"/> when the outcomes differ.</returns>
    public static bool operator !=(JobResult<TJob, TResult> left, JobResult<TJob, TResult> right) => !left.Equals(right);

    /// <inheritdoc />
    public override string ToString() => Error is null
        ? $"#{Index} {Status} ({Duration.TotalMilliseconds:0.###} ms)"
        : $"#{Index} {Status} ({Duration.TotalMilliseconds:0.###} ms): {Error.GetType().Name}: {Error.Message}";
}
