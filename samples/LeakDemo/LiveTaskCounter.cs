using System.Diagnostics;

namespace LeakDemo;

/// <summary>
/// Counts things that are alive now (sub-job bodies, requests in flight), remembers the most that were alive at once,
/// and lets a caller wait, without polling, for the moment the count next reaches zero.
/// </summary>
/// <remarks>Thread-safe. <see cref="Increment"/> and <see cref="Decrement"/> are lock-free except on the way to zero.</remarks>
public sealed class LiveTaskCounter
{
    private readonly object _sync = new();
    private List<TaskCompletionSource<long>>? _zeroWaiters;
    private int _count;
    private int _peak;

    /// <summary>Gets how many are alive now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Gets the most that were alive at once since the last <see cref="ResetPeak"/>.</summary>
    public int Peak => Volatile.Read(ref _peak);

    /// <summary>Counts one more alive.</summary>
    public void Increment()
    {
        int count = Interlocked.Increment(ref _count);
        int peak = Volatile.Read(ref _peak);
        while (count > peak)
        {
            int seen = Interlocked.CompareExchange(ref _peak, count, peak);
            if (seen == peak)
            {
                break;
            }

            peak = seen;
        }
    }

    /// <summary>Counts one fewer alive, and wakes the waiters of <see cref="WaitForZeroAsync"/> if that was the last.</summary>
    public void Decrement()
    {
        int count = Interlocked.Decrement(ref _count);
        Debug.Assert(count >= 0, "More decrements than increments.");
        if (count != 0)
        {
            return;
        }

        long now = Stopwatch.GetTimestamp();
        List<TaskCompletionSource<long>>? waiters;
        lock (_sync)
        {
            waiters = _zeroWaiters;
            _zeroWaiters = null;
        }

        // Completed outside the lock; continuations run asynchronously, never inline on the decrementing thread.
        if (waiters is not null)
        {
            foreach (TaskCompletionSource<long> waiter in waiters)
            {
                waiter.TrySetResult(now);
            }
        }
    }

    /// <summary>Starts a new peak from the current count.</summary>
    public void ResetPeak() => Volatile.Write(ref _peak, Count);

    /// <summary>
    /// Waits until the count is zero. The result is the <see cref="Stopwatch"/> timestamp of the moment it reached zero,
    /// or of this call if it already was zero.
    /// </summary>
    /// <param name="cancellationToken">Stops the wait; the task is then cancelled.</param>
    /// <returns>The timestamp at which the count was seen at zero.</returns>
    public Task<long> WaitForZeroAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<long>(cancellationToken);
        }

        var waiter = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_sync)
        {
            // Decrement reads the waiters under this lock after its Interlocked.Decrement, so either it sees this
            // waiter, or this check sees its zero.
            if (Volatile.Read(ref _count) == 0)
            {
                return Task.FromResult(Stopwatch.GetTimestamp());
            }

            (_zeroWaiters ??= []).Add(waiter);
        }

        return waiter.Task.WaitAsync(cancellationToken);
    }
}
