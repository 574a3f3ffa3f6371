using System.Threading.Tasks.Sources;

namespace WorkerPool;

/// <summary>
/// One wait at a time, reused from one wait to the next without allocating: the waiter <see cref="Arm"/>s it and awaits
/// the value task it returns, and whoever ends the wait completes it (<see cref="Complete"/>), once, outside any lock.
/// Continuations run on the thread pool, never inline in the code that completes the wait. Used for every wait inside
/// the pool: a producer's place in the queue's admission line (<see cref="JobQueue{TOwner, TItem}.Waiter"/>) and a
/// stream producer's wait for credits (<see cref="CreditWindow"/>).
/// </summary>
/// <typeparam name="T">What the wait ends with.</typeparam>
internal class ReusableWaiter<T> : IValueTaskSource<T>
{
    private ManualResetValueTaskSourceCore<T> _core = new() { RunContinuationsAsynchronously = true };

    /// <summary>Starts a wait. Call only once the previous wait's result was read.</summary>
    internal ValueTask<T> Arm()
    {
        _core.Reset();
        return new ValueTask<T>(this, _core.Version);
    }

    /// <summary>Ends the current wait with <paramref name="result"/>. Call once per wait, outside any lock.</summary>
    internal void Complete(T result) => _core.SetResult(result);

    T IValueTaskSource<T>.GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            OnResultTaken();
        }
    }

    /// <summary>
    /// Called on the waiting side once it has taken the result of a wait that ended: the place to release what only the
    /// wait needed. Never called while the wait is pending.
    /// </summary>
    protected virtual void OnResultTaken()
    {
    }

    ValueTaskSourceStatus IValueTaskSource<T>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<T>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
