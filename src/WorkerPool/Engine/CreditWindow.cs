using System.Diagnostics;

namespace WorkerPool;

/// <summary>
/// The credits of one StreamAsync run: how many more jobs its producer may pull before the consumer has yielded the
/// ones pulled already. One producer takes credits (<see cref="TakeAsync"/>), several at a time, one consumer gives them back
/// (<see cref="Release"/>), and the run's stop closes the window (<see cref="Close"/>).
/// </summary>
/// <remarks>
/// Unlike a <see cref="SemaphoreSlim"/>, a wait here allocates nothing: the single waiter reuses one
/// <see cref="ReusableWaiter{T}"/>, and cancellation reaches it through <see cref="Close"/>, called
/// as the run starts to stop, instead of through a registration per wait.
/// </remarks>
internal sealed class CreditWindow
{
    private readonly object _sync = new();
    private readonly int _size;

    // Guarded by _sync.
    private int _credits;
    private bool _waiting;
    private int _waiterWants;
    private bool _closed;

    // Completed outside the lock; continuations run on the thread pool, never inline in the consumer or the canceller.
    private readonly ReusableWaiter<int> _waiter = new();

    internal CreditWindow(int size)
    {
        Debug.Assert(size > 0, "A window holds at least one credit.");
        _size = size;
        _credits = size;
    }

    /// <summary>
    /// Producer only, one call at a time: takes up to <paramref name="most"/> credits, at least one, waiting for the
    /// consumer if none is left. Returns how many it took, or 0 once the window is closed.
    /// </summary>
    internal ValueTask<int> TakeAsync(int most)
    {
        Debug.Assert(most > 0, "A take asks for at least one credit.");
        lock (_sync)
        {
            AssertInvariants();
            if (_closed)
            {
                return new ValueTask<int>(0);
            }

            if (_credits > 0)
            {
                int taken = Math.Min(_credits, most);
                _credits -= taken;
                return new ValueTask<int>(taken);
            }

            _waiting = true;
            _waiterWants = most;
            return _waiter.Arm();
        }
    }

    /// <summary>Consumer only: gives back <paramref name="count"/> credits, handing them to the producer if it waits.</summary>
    internal void Release(int count)
    {
        int handed = 0;
        lock (_sync)
        {
            _credits += count;
            if (_waiting && _credits > 0)
            {
                _waiting = false;
                handed = Math.Min(_credits, _waiterWants);
                _credits -= handed;
            }

            AssertInvariants();
        }

        if (handed > 0)
        {
            _waiter.Complete(handed);
        }
    }

    /// <summary>Closes the window: the producer's pending and later takes return <see langword="false"/>. Any thread, idempotent.</summary>
    internal void Close()
    {
        bool wake;
        lock (_sync)
        {
            _closed = true;
            wake = _waiting;
            _waiting = false;
            AssertInvariants();
        }

        if (wake)
        {
            _waiter.Complete(0);
        }
    }

    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(Monitor.IsEntered(_sync), "The window's lock must be held.");
        Debug.Assert(_credits >= 0 && _credits <= _size, "Credits left the window's range.");
        Debug.Assert(!_waiting || _credits == 0, "The producer waits while credits are available.");
        Debug.Assert(!(_waiting && _closed), "The producer waits on a closed window.");
    }
}
