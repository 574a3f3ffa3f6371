using Microsoft.Coyote.Specifications;

namespace WorkerPool.SystematicTests.Support;

/// <summary>
/// A queue owner that keeps the run's side of the claim protocol (docs/design.md, "The claim protocol") with the pool's
/// own <see cref="ClaimGate"/>: a worker announces itself (<see cref="TryEnter"/>: increment, then read the closed flag),
/// and the finish closes the owner, takes its jobs out of the queue (<see cref="JobQueue{TOwner, TItem}.RemoveAll"/>),
/// then waits until no worker is inside. What the queue must add to that: it enters the owner under its lock before it
/// hands out a job, accepts no job of a closed owner, and sets a closed owner's jobs aside for the finish.
/// </summary>
/// <remarks>
/// A worker that leaves (<see cref="Exit"/>) may complete the finish's wait only on a count of zero read after it saw the
/// owner closed. The count its own decrement returned is not enough: between that decrement and its read of the closed
/// flag, another worker may enter (the owner was still open) and take a job, and then the finish closes the owner. With
/// <paramref name="exitTrustsItsDecrement"/> the owner uses a copy of the protocol that judges by that count alone;
/// docs/design.md, "Systematic testing", has the schedule Coyote finds for it.
/// </remarks>
internal sealed class ClaimingOwner(string name, bool exitTrustsItsDecrement = false) : IJobQueueOwner
{
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ClaimGate _gate;
    private int _running;
    private int _closed;
    private int _finished;

    public string Name { get; } = name;

    /// <summary>Whether <see cref="FinishAsync"/> has returned: from then on, no job of this owner may be in a worker's hands.</summary>
    public bool IsFinished => Volatile.Read(ref _finished) != 0;

    /// <summary>The jobs the finish took out of the queue: they never reach a worker.</summary>
    public IReadOnlyList<int> Removed { get; private set; } = [];

    public bool IsClosed => exitTrustsItsDecrement ? Volatile.Read(ref _closed) != 0 : _gate.IsClosed;

    public bool TryEnter()
    {
        if (!exitTrustsItsDecrement)
        {
            return _gate.TryEnter();
        }

        Interlocked.Increment(ref _running);
        return Volatile.Read(ref _closed) == 0;
    }

    public void Exit()
    {
        if (!exitTrustsItsDecrement)
        {
            _gate.Exit();
            return;
        }

        int running = Interlocked.Decrement(ref _running);
        Specification.Assert(running >= 0, $"More workers left {Name} than entered it.");
        if (running == 0 && Volatile.Read(ref _closed) != 0 && (exitTrustsItsDecrement || Volatile.Read(ref _running) == 0))
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>The run's finish: close, take the queued jobs back, wait until no worker is inside. Call once.</summary>
    public async Task FinishAsync(JobQueue<ClaimingOwner, int> queue)
    {
        if (!exitTrustsItsDecrement)
        {
            Task drained = _gate.CloseAndDrainAsync();
            Removed = queue.RemoveAll(this) ?? [];
            await drained;
            Volatile.Write(ref _finished, 1);
            return;
        }

        Interlocked.Exchange(ref _closed, 1);
        Removed = queue.RemoveAll(this) ?? [];
        if (Volatile.Read(ref _running) == 0)
        {
            _drained.TrySetResult();
        }

        await _drained.Task;
        Volatile.Write(ref _finished, 1);
    }

    public override string ToString() => Name;
}
