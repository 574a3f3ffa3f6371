using System.Diagnostics;
using System.Threading.Tasks.Sources;

namespace WorkerPool;

/// <summary>
/// The credits of one StreamAsync run: how many more jobs its producer may pull before the consumer has yielded the
/// ones pulled already. One producer takes credits (<see cref="TakeAsync"/>), one consumer gives them back
/// (<see cref="Release"/>), and the run's cancellation closes the window (<see cref="Close"/>).
/// </summary>
/// <remarks>
/// Unlike a <see cref="SemaphoreSlim"/>, a wait here allocates nothing: the single waiter reuses one
/// <see cref="ManualResetValueTaskSourceCore{TResult}"/>, and cancellation reaches it through <see cref="Close"/>, called
/// from the run's one registration on its token, instead of through a registration per wait.
/// </remarks>
internal sealed class CreditWindow : IValueTaskSource<bool>
{
    private readonly object _sync = new();
    private readonly int _size;

    // Guarded by _sync.
    private int _credits;
    private bool _waiting;
    private bool _closed;

    // Completed outside the lock; continuations run on the thread pool, never inline in the consumer or the canceller.
    private ManualResetValueTaskSourceCore<bool> _waiter = new() { RunContinuationsAsynchronously = true };

    internal CreditWindow(int size)
    {
        Debug.Assert(size > 0, "A window holds at least one credit.");
        _size = size;
        _credits = size;
    }

    /// <summary>
    /// Producer only, one call at a time: takes one credit, waiting for the consumer if none is left. Returns
    /// <see langword="false"/> once the window is closed.
    /// </summary>
    internal ValueTask<bool> TakeAsync()
    {
        lock (_sync)
        {
            AssertInvariants();
            if (_closed)
            {
                return new ValueTask<bool>(false);
            }

            if (_credits > 0)
            {
                _credits--;
                return new ValueTask<bool>(true);
            }

            _waiting = true;
            _waiter.Reset();
            return new ValueTask<bool>(this, _waiter.Version);
        }
    }

    /// <summary>Consumer only: gives back <paramref name="count"/> credits, waking the producer if it waits for one.</summary>
    internal void Release(int count)
    {
        bool wake;
        lock (_sync)
        {
            _credits += count;
            wake = _waiting;
            if (wake)
            {
                _waiting = false;
                _credits--;
            }

            AssertInvariants();
        }

        if (wake)
        {
            _waiter.SetResult(true);
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
            _waiter.SetResult(false);
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _waiter.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _waiter.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _waiter.OnCompleted(continuation, state, token, flags);

    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(Monitor.IsEntered(_sync), "The window's lock must be held.");
        Debug.Assert(_credits >= 0 && _credits <= _size, "Credits left the window's range.");
        Debug.Assert(!_waiting || _credits == 0, "The producer waits while credits are available.");
        Debug.Assert(!(_waiting && _closed), "The producer waits on a closed window.");
    }
}
