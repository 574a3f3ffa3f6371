using System.Diagnostics;

namespace WorkerPool.Redis.Internal;

/// <summary>
/// The messages one consumer holds: read (or claimed) and not yet acknowledged, dead-lettered or given up. It owns the
/// invariant that a consumer never holds more than <see cref="Capacity"/> messages: the reader asks for
/// <see cref="Room"/> before every read and reads at most that many. A failed message that waits for its retry stays
/// held, so failures shrink the room instead of growing the consumer's pending list without bound.
/// </summary>
/// <remarks>
/// Thread-safe. One reader adds; the settling code removes and schedules retries, concurrently with it.
/// </remarks>
internal sealed class PendingLedger
{
    private readonly object _sync = new();
    private readonly Dictionary<string, long> _held = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private TaskCompletionSource? _roomWaiter;

    internal PendingLedger(int capacity, TimeProvider time)
    {
        Debug.Assert(capacity > 0, "A ledger needs room for at least one message.");
        Capacity = capacity;
        _time = time;
    }

    /// <summary>Gets the most messages the consumer may hold.</summary>
    internal int Capacity { get; }

    /// <summary>Gets the number of messages held now.</summary>
    internal int Count
    {
        get
        {
            lock (_sync)
            {
                return _held.Count;
            }
        }
    }

    /// <summary>Gets how many more messages may be read now.</summary>
    internal int Room => Math.Max(0, Capacity - Count);

    /// <summary>
    /// Records that a message is delivered to this consumer and about to run. Returns false when it is already running
    /// here (a takeover returned one of this consumer's own long jobs), so that it is not run twice by one consumer.
    /// A message waiting for its retry becomes in flight again.
    /// </summary>
    internal bool TryAdd(string id)
    {
        lock (_sync)
        {
            if (_held.TryGetValue(id, out long retryAt) && retryAt == InFlight)
            {
                return false;
            }

            _held[id] = InFlight;
            AssertInvariants();
            return true;
        }
    }

    /// <summary>Whether the message is running here now: delivered and not yet settled or waiting for its retry.</summary>
    internal bool IsInFlight(string id)
    {
        lock (_sync)
        {
            return _held.TryGetValue(id, out long retryAt) && retryAt == InFlight;
        }
    }

    /// <summary>Returns every message held now, in flight or waiting for its retry: those the heartbeat keeps fresh.</summary>
    internal List<string> Held()
    {
        lock (_sync)
        {
            return [.. _held.Keys];
        }
    }

    /// <summary>Forgets a message: acknowledged, dead-lettered, given up, or owned by another consumer now.</summary>
    internal void Remove(string id)
    {
        TaskCompletionSource? wake = null;
        lock (_sync)
        {
            if (_held.Remove(id) && _held.Count < Capacity)
            {
                wake = _roomWaiter;
                _roomWaiter = null;
            }

            AssertInvariants();
        }

        wake?.TrySetResult();
    }

    /// <summary>Forgets every message, and wakes a reader that waits for room.</summary>
    internal void Clear()
    {
        TaskCompletionSource? wake;
        lock (_sync)
        {
            _held.Clear();
            wake = _roomWaiter;
            _roomWaiter = null;
            AssertInvariants();
        }

        wake?.TrySetResult();
    }

    /// <summary>Keeps a failed message held, to be delivered again after <paramref name="delay"/>.</summary>
    internal void ScheduleRetry(string id, TimeSpan delay)
    {
        long due = _time.GetTimestamp() + (long)(delay.TotalSeconds * _time.TimestampFrequency);
        TaskCompletionSource? wake;
        lock (_sync)
        {
            if (!_held.ContainsKey(id))
            {
                return;
            }

            _held[id] = Math.Max(due, InFlight + 1);
            wake = _roomWaiter;
            _roomWaiter = null;
            AssertInvariants();
        }

        // A reader waiting for room also waits for the next retry: let it recompute when that is.
        wake?.TrySetResult();
    }

    /// <summary>
    /// Returns the messages whose retry is due, in id order, at most <paramref name="limit"/> of them (the oldest); they
    /// stay held until delivered or removed.
    /// </summary>
    internal List<string> DueRetries(int limit = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        long now = _time.GetTimestamp();
        var due = new List<string>();
        lock (_sync)
        {
            foreach (KeyValuePair<string, long> entry in _held)
            {
                if (entry.Value != InFlight && entry.Value <= now)
                {
                    due.Add(entry.Key);
                }
            }
        }

        due.Sort(StreamIds.Compare);
        if (due.Count > limit)
        {
            due.RemoveRange(limit, due.Count - limit);
        }

        return due;
    }

    /// <summary>Gets how long until the next retry is due, or null when none waits.</summary>
    internal TimeSpan? NextRetryIn()
    {
        long next = long.MaxValue;
        lock (_sync)
        {
            foreach (long retryAt in _held.Values)
            {
                if (retryAt != InFlight && retryAt < next)
                {
                    next = retryAt;
                }
            }
        }

        return next == long.MaxValue ? null : _time.GetElapsedTime(_time.GetTimestamp(), Math.Max(next, _time.GetTimestamp()));
    }

    /// <summary>
    /// Waits until a message is removed or a retry is scheduled, or <paramref name="maxWait"/> elapses, or the token is
    /// cancelled; never throws. Returns at once when there is room.
    /// </summary>
    internal Task WaitForChangeAsync(TimeSpan maxWait, CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        lock (_sync)
        {
            if (_held.Count < Capacity)
            {
                return Task.CompletedTask;
            }

            waiter = _roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        return WaitCoreAsync(waiter.Task, maxWait, cancellationToken);
    }

    private async Task WaitCoreAsync(Task change, TimeSpan maxWait, CancellationToken cancellationToken) =>
        await change.WaitAsync(maxWait, _time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    /// <summary>The value of a message that is in flight; any other value is the timestamp its retry is due.</summary>
    private const long InFlight = long.MinValue;

    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(Monitor.IsEntered(_sync), "The ledger's state is read outside its lock.");
        Debug.Assert(_roomWaiter is null || _held.Count >= Capacity, "A reader waits for room while there is room.");
    }
}
