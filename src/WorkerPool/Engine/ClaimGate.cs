using System.Diagnostics;

namespace WorkerPool;

/// <summary>
/// The claim protocol of one run: workers enter it before they take one of its jobs and exit once they have published
/// the outcomes; its finish closes it and waits until nobody is inside. See docs/design.md, "The claim protocol".
/// </summary>
/// <remarks>
/// Each side writes, then reads the other side's write, with full fences (Dekker): a worker increments the count inside,
/// then reads the closed flag; the finish sets the closed flag, then reads the count. So either the worker sees the run
/// closed and takes nothing, or the finish sees the worker inside and waits for its exit. A struct kept in its run, so
/// that it costs no allocation; the wait for the drain is made only when the run closes.
/// </remarks>
internal struct ClaimGate
{
    private int _inside;
    private int _closed;
    private TaskCompletionSource? _drained;

    /// <summary>Workers inside now: entered, and not yet exited.</summary>
    internal readonly int Inside => Volatile.Read(in _inside);

    /// <summary>Whether the gate is closed: no worker enters any more.</summary>
    internal readonly bool IsClosed => Volatile.Read(in _closed) != 0;

    /// <summary>
    /// Worker side: announces a worker inside, then checks that the gate is open. Returns <see langword="false"/> if it is
    /// closed; the worker must still <see cref="Exit"/>, as after every call.
    /// </summary>
    internal bool TryEnter()
    {
        Interlocked.Increment(ref _inside);
        return Volatile.Read(ref _closed) == 0;
    }

    /// <summary>Worker side: leaves, after a <see cref="TryEnter"/> whatever it returned. The last to leave a closed gate ends its drain.</summary>
    /// <remarks>
    /// The count this decrement returns is not enough to end the drain: between the decrement and the read of the closed
    /// flag, another worker may enter (the gate was still open), and the gate may then close and see that worker inside.
    /// So the drain ends only on a count of zero read after the gate was seen closed. Whoever leaves last after the close
    /// reads zero then; if nobody does, the close itself read zero.
    /// </remarks>
    internal void Exit()
    {
        int inside = Interlocked.Decrement(ref _inside);
        Debug.Assert(inside >= 0, "More workers left than entered.");
        if (inside == 0 && Volatile.Read(ref _closed) != 0 && Volatile.Read(ref _inside) == 0)
        {
            Volatile.Read(ref _drained)!.TrySetResult();
        }
    }

    /// <summary>
    /// Finish side, once: closes the gate to new workers and returns a task that completes once nobody is inside. Its
    /// continuations run on the thread pool.
    /// </summary>
    internal Task CloseAndDrainAsync()
    {
        // Published before the gate closes: the last worker to exit a closed gate completes it.
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _drained, drained);
        int wasClosed = Interlocked.Exchange(ref _closed, 1);
        Debug.Assert(wasClosed == 0, "A gate was closed twice.");
        if (Volatile.Read(ref _inside) == 0)
        {
            drained.TrySetResult();
        }

        return drained.Task;
    }
}
