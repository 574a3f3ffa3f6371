using System.Globalization;
using System.Runtime.InteropServices;

namespace WorkerPool;

/// <summary>
/// Describes a job whose <c>work</c> call was still executing when the snapshot was taken.
/// </summary>
/// <remarks>This is an immutable value; it is safe to share between threads.</remarks>
[StructLayout(LayoutKind.Auto)]
public readonly record struct RunningJobInfo
{
    /// <summary>Gets the name of the pool running the job.</summary>
    /// <value>The pool's <see cref="WorkerPoolOptions.Name"/>.</value>
    public required string PoolName { get; init; }

    /// <summary>Gets the id of the job's run, unique within its pool.</summary>
    /// <value>A positive number, in the order runs started.</value>
    public long RunId { get; init; }

    /// <summary>Gets the job's 0-based position in the input of its run.</summary>
    /// <value>The job's index.</value>
    public required long Index { get; init; }

    /// <summary>Gets the job.</summary>
    /// <value>The job as the source produced it; it may be <see langword="null"/>. It never appears in <see cref="ToString"/>.</value>
    public object? Job { get; init; }

    /// <summary>Gets the job's text for messages, from <see cref="WorkerPoolOptions.JobFormatter"/>.</summary>
    /// <value>The formatter's text, or <see langword="null"/> when the pool has no formatter: the job is then named by run and index only.</value>
    public string? JobText { get; init; }

    /// <summary>Gets how long the job's <c>work</c> call had been running when the snapshot was taken.</summary>
    /// <value>A non-negative time, on the pool's <see cref="WorkerPoolOptions.TimeProvider"/>.</value>
    public required TimeSpan Elapsed { get; init; }

    /// <inheritdoc />
    public override string ToString() => $"{PoolName} {DescribeInPool()}";

    /// <summary>The job, its run and how long it has run, as a message about its pool names it.</summary>
    internal string DescribeInPool() =>
        string.Create(CultureInfo.InvariantCulture, $"run {RunId} job {Label(Index, JobText)} running for {Elapsed.TotalMilliseconds:0} ms");

    /// <summary>
    /// How messages name a job of a run: <c>#index</c>, followed by the <see cref="WorkerPoolOptions.JobFormatter"/>'s
    /// text in brackets if there is one.
    /// </summary>
    internal static string Label(long index, string? jobText) => jobText is null
        ? string.Create(CultureInfo.InvariantCulture, $"#{index}")
        : string.Create(CultureInfo.InvariantCulture, $"#{index} ({jobText})");
}
