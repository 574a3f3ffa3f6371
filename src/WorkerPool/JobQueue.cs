using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace WorkerPool;

/// <summary>The owner of queued jobs, as the <see cref="JobQueue{TOwner, TItem}"/> sees it: a run.</summary>
internal interface IJobQueueOwner
{
    /// <summary>
    /// Announces a worker inside the owner; <see langword="false"/> if the owner is closed to new workers. Called under
    /// the queue's lock, so that a closed owner's jobs are never in a worker's hands unannounced. After a
    /// <see langword="false"/>, the queue calls <see cref="Exit"/> once its lock is released.
    /// </summary>
    bool TryEnter();

    /// <summary>Whether the owner is closed to new workers: the queue then accepts no job of it, written or returned.</summary>
    bool IsClosed { get; }

    /// <summary>Leaves the owner: pairs with every <see cref="TryEnter"/>, whatever it returned.</summary>
    void Exit();
}

/// <summary>
/// The pool-wide queue of jobs waiting for a worker, each with the run (<typeparamref name="TOwner"/>) it belongs to,
/// and the bound on how many jobs may wait at once. Producers write one job at a time; a worker takes several
/// consecutive jobs of one run at a time, under one lock acquisition. A job in a worker's hands still counts as
/// waiting until the worker reports it started or dropped: with its next <see cref="TryTake"/>, or with
/// <see cref="Release"/> before it waits for anything.
/// </summary>
/// <remarks>
/// <para>
/// A worker takes jobs only from an owner it has entered (<see cref="IJobQueueOwner.TryEnter"/>, under this lock). The
/// jobs of a closed owner are set aside instead, out of every worker's reach, until the owner's finish takes them
/// (<see cref="RemoveAll"/>). So every job is, at every moment, in the queue, set aside, or in the hands of a worker the
/// owner waits for.
/// </para>
/// <para>
/// A producer that finds the queue full waits until it has drained to half its capacity (<see cref="WriteAsync"/>),
/// not until one job has left: waking a producer for every job a worker starts would cost a thread-pool hop per job.
/// </para>
/// </remarks>
/// <typeparam name="TOwner">The owner of a job: its run.</typeparam>
/// <typeparam name="TItem">A job.</typeparam>
internal sealed class JobQueue<TOwner, TItem>
    where TOwner : class, IJobQueueOwner
{
    private readonly object _sync = new();
    private readonly int _capacity;
    private readonly int _wakeAt;

    // Guarded by _sync: a ring of _count entries from _head, and the jobs of closed owners, set aside. _count is also
    // read without the lock, as a hint (HasQueued).
    private Entry[] _ring;
    private int _head;
    private int _count;
    private readonly List<Entry> _setAside = [];

    // Jobs waiting: in the ring, set aside, or taken and not yet reported started. Written under _sync only.
    private int _waiting;

    // Producers waiting for room, first come first woken. Guarded by _sync. Once _waiting is at most _wakeAt, every
    // decrease of it wakes up to WakeBatch more of them (skipping any whose wait was cancelled).
    private readonly Queue<Waiter> _waiters = new();

    /// <summary>
    /// How many waiting producers one decrease wakes. Each woken producer writes until the queue is full again, so a
    /// few suffice to refill it; waking every waiter at once (with many runs sharing the pool) would wake hundreds of
    /// producers for the room of a few.
    /// </summary>
    private const int WakeBatch = 2;

    internal JobQueue(int capacity)
    {
        Debug.Assert(capacity > 0, "The queue holds at least one job.");
        _capacity = capacity;
        _wakeAt = capacity / 2;
        _ring = new Entry[Math.Min(capacity, 16)];
    }

    /// <summary>Jobs waiting: in the queue, set aside, or taken by workers and not yet started.</summary>
    internal int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Whether a job is in the queue, ready to be taken. A hint: it may change at once.</summary>
    internal bool HasQueued => Volatile.Read(ref _count) > 0;

    /// <summary>
    /// Whether a job is in the queue, read under the queue's lock. A worker that lowered the pool's worker count and
    /// then finds no job here can retire: a producer that writes a job after this takes the same lock, so it then sees
    /// the lowered count and starts a worker itself.
    /// </summary>
    internal bool HasQueuedNow()
    {
        lock (_sync)
        {
            return _count > 0;
        }
    }

    /// <summary>
    /// Writes <paramref name="item"/> of <paramref name="owner"/> if the queue has room and the owner is open. Any thread.
    /// </summary>
    internal bool TryWrite(TOwner owner, TItem item)
    {
        lock (_sync)
        {
            AssertInvariants();
            if (_waiting >= _capacity || owner.IsClosed)
            {
                return false;
            }

            WriteCore(owner, item);
            AssertInvariants();
            return true;
        }
    }

    /// <summary>
    /// Writes <paramref name="item"/> of <paramref name="owner"/>, waiting while the queue is full: once full, until it has
    /// drained to half its capacity, in turn with other waiting producers. Returns <see langword="false"/>, without
    /// writing and without throwing, once <paramref name="cancellationToken"/> is cancelled or the owner is closed.
    /// <paramref name="waiter"/> is the producer's own, reused from one wait to the next: a wait allocates nothing.
    /// </summary>
    // Pooled: a producer waits once per half a queue of jobs, and a box per wait would be its only allocation.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal async ValueTask<bool> WriteAsync(TOwner owner, TItem item, Waiter waiter, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            ValueTask<bool> wake;
            lock (_sync)
            {
                AssertInvariants();
                if (owner.IsClosed)
                {
                    break;
                }

                if (_waiting < _capacity)
                {
                    WriteCore(owner, item);
                    AssertInvariants();
                    return true;
                }

                // Every decrease of _waiting happens under this lock, and once it is at most _wakeAt, each one wakes
                // waiters in turn: a waiter queued here is woken, or its room taken by one woken before it.
                wake = waiter.Arm();
                _waiters.Enqueue(waiter);
            }

            bool woken;
            using (cancellationToken.UnsafeRegister(static state => ((Waiter)state!).TryComplete(false), waiter))
            {
                // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: producers run on the thread pool, with no context
                woken = await wake.ConfigureAwait(false);
            }

            if (!woken)
            {
                return false;
            }
        }

        // Woken, but leaving without writing: the room this waiter was woken for goes to the next one.
        WakeWaiters();
        return false;
    }

    /// <summary>
    /// First counts <paramref name="started"/> jobs the caller took earlier as no longer waiting (they started or were
    /// dropped). Then takes up to <c>buffer.Length</c> consecutive jobs of the owner at the head of the queue, and never
    /// more than the queued jobs divided by <paramref name="sharers"/>, so that other workers get their share. The caller
    /// has entered that owner: it must <see cref="IJobQueueOwner.Exit"/> it, and report each job taken as started, here
    /// or with <see cref="Release"/>. Owners found closed on the way have their jobs set aside. Returns 0 if no job is
    /// queued.
    /// </summary>
    internal int TryTake(Span<TItem> buffer, int sharers, int started, out TOwner? owner)
    {
        Debug.Assert(buffer.Length >= 1 && sharers >= 1, "A worker takes at least one job, and shares with at least itself.");
        TOwner? closed = null;
        List<TOwner>? moreClosed = null;
        bool wake;
        int taken = 0;
        owner = null;
        lock (_sync)
        {
            AssertInvariants();
            wake = LowerWaiting(started);
            while (_count > 0)
            {
                TOwner head = _ring[_head].Owner!;
                if (!head.TryEnter())
                {
                    SetAsideHeadRunOf(head);
                    if (closed is null)
                    {
                        closed = head;
                    }
                    else
                    {
                        (moreClosed ??= []).Add(head);
                    }

                    continue;
                }

                owner = head;
                int limit = Math.Min(buffer.Length, Math.Max(1, _count / sharers));
                while (taken < limit && _count > 0 && ReferenceEquals(_ring[_head].Owner, head))
                {
                    buffer[taken++] = _ring[_head].Item;
                    _ring[_head] = default;
                    _head = (_head + 1) % _ring.Length;
                    _count--;
                }

                break;
            }

            AssertInvariants();
        }

        // Outside the lock: an Exit may complete the closed owner's wait for its workers.
        if (wake)
        {
            WakeWaiters();
        }

        closed?.Exit();
        if (moreClosed is not null)
        {
            foreach (TOwner other in moreClosed)
            {
                other.Exit();
            }
        }

        return taken;
    }

    /// <summary>
    /// Puts taken jobs of <paramref name="owner"/> back at the head of the queue, in order, for another worker to take.
    /// They still wait, so the count of waiting jobs does not change. The caller is still inside the owner. Returns
    /// <see langword="false"/>, and takes nothing back, if the owner is closed: its jobs then stay with the caller.
    /// </summary>
    internal bool Return(TOwner owner, ReadOnlySpan<TItem> items)
    {
        lock (_sync)
        {
            AssertInvariants();
            if (owner.IsClosed)
            {
                return false;
            }

            EnsureRoom(items.Length);
            for (int i = items.Length - 1; i >= 0; i--)
            {
                _head = (_head - 1 + _ring.Length) % _ring.Length;
                _ring[_head] = new Entry(owner, items[i]);
                _count++;
            }

            AssertInvariants();
        }

        return true;
    }

    /// <summary>
    /// Takes every job of <paramref name="owner"/> still queued or set aside, in queue order, and counts them as no longer
    /// waiting. Call once the owner is closed: from then on the queue accepts no job of it, so a job of it is either
    /// taken here or in the hands of a worker inside it.
    /// </summary>
    internal List<TItem>? RemoveAll(TOwner owner)
    {
        List<TItem>? removed = null;
        bool wake;
        lock (_sync)
        {
            AssertInvariants();
            for (int i = 0; i < _setAside.Count; i++)
            {
                if (ReferenceEquals(_setAside[i].Owner, owner))
                {
                    (removed ??= []).Add(_setAside[i].Item);
                }
            }

            if (removed is not null)
            {
                _setAside.RemoveAll(entry => ReferenceEquals(entry.Owner, owner));
            }

            // Compact the ring in place, keeping the order of everything else.
            int kept = 0;
            for (int i = 0; i < _count; i++)
            {
                Entry entry = _ring[(_head + i) % _ring.Length];
                if (ReferenceEquals(entry.Owner, owner))
                {
                    (removed ??= []).Add(entry.Item);
                }
                else
                {
                    _ring[(_head + kept++) % _ring.Length] = entry;
                }
            }

            for (int i = kept; i < _count; i++)
            {
                _ring[(_head + i) % _ring.Length] = default;
            }

            _count = kept;
            wake = LowerWaiting(removed?.Count ?? 0);
            AssertInvariants();
        }

        if (wake)
        {
            WakeWaiters();
        }

        return removed;
    }

    /// <summary>
    /// Counts <paramref name="count"/> taken jobs as no longer waiting: they have started, or have been dropped. Wakes
    /// the waiting producers once the queue has drained to half its capacity. Any thread.
    /// </summary>
    internal void Release(int count)
    {
        bool wake;
        lock (_sync)
        {
            AssertInvariants();
            wake = LowerWaiting(count);
            AssertInvariants();
        }

        if (wake)
        {
            WakeWaiters();
        }
    }

    /// <summary>Under the lock: lowers the waiting count; returns whether producers wait and the queue has room for them.</summary>
    private bool LowerWaiting(int count)
    {
        Debug.Assert(count >= 0 && count <= _waiting, "More jobs were reported started than were taken.");
        Volatile.Write(ref _waiting, _waiting - count);
        return _waiting <= _wakeAt && _waiters.Count > 0;
    }

    /// <summary>
    /// Wakes up to <see cref="WakeBatch"/> waiting producers, first come first, if the queue has drained to half its
    /// capacity. Waiters whose wait was cancelled are dropped without counting. Completes them outside the lock: they
    /// resume on the thread pool.
    /// </summary>
    private void WakeWaiters()
    {
        int woken = 0;
        while (woken < WakeBatch)
        {
            Waiter? waiter;
            lock (_sync)
            {
                if (_waiting > _wakeAt || !_waiters.TryDequeue(out waiter))
                {
                    return;
                }
            }

            if (waiter.TryComplete(true))
            {
                woken++;
            }
        }
    }

    private void WriteCore(TOwner owner, TItem item)
    {
        EnsureRoom(1);
        _ring[(_head + _count) % _ring.Length] = new Entry(owner, item);
        _count++;
        Volatile.Write(ref _waiting, _waiting + 1);
    }

    /// <summary>Moves the consecutive jobs of <paramref name="owner"/> at the head of the ring to the set-aside list.</summary>
    private void SetAsideHeadRunOf(TOwner owner)
    {
        while (_count > 0 && ReferenceEquals(_ring[_head].Owner, owner))
        {
            _setAside.Add(_ring[_head]);
            _ring[_head] = default;
            _head = (_head + 1) % _ring.Length;
            _count--;
        }
    }

    private void EnsureRoom(int more)
    {
        if (_count + more <= _ring.Length)
        {
            return;
        }

        int length = _ring.Length;
        while (length < _count + more)
        {
            length *= 2;
        }

        var ring = new Entry[length];
        for (int i = 0; i < _count; i++)
        {
            ring[i] = _ring[(_head + i) % _ring.Length];
        }

        _ring = ring;
        _head = 0;
    }

    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(Monitor.IsEntered(_sync), "The queue lock must be held.");
        Debug.Assert(_count >= 0 && _count <= _ring.Length, "The ring holds more jobs than it has room for.");
        Debug.Assert(_count + _setAside.Count <= _waiting, "Fewer jobs wait than are queued or set aside.");
        Debug.Assert(_waiting <= _capacity, "More jobs wait than the queue's capacity.");
    }

    private readonly record struct Entry(TOwner? Owner, TItem Item);

    /// <summary>
    /// A producer's wait for room, reused from one wait to the next: woken with <see langword="true"/>, or with
    /// <see langword="false"/> if the wait was cancelled, whichever comes first. One producer uses it, one wait at a time.
    /// </summary>
    internal sealed class Waiter : IValueTaskSource<bool>
    {
        // Continuations run on the thread pool, never inline in the worker or canceller that completes the wait.
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
        private int _armed;

        /// <summary>Starts a wait. Call only once the last wait's result was read.</summary>
        internal ValueTask<bool> Arm()
        {
            _core.Reset();
            Volatile.Write(ref _armed, 1);
            return new ValueTask<bool>(this, _core.Version);
        }

        /// <summary>Ends the current wait with <paramref name="woken"/>, unless it has ended already.</summary>
        internal bool TryComplete(bool woken)
        {
            if (Interlocked.Exchange(ref _armed, 0) == 0)
            {
                return false;
            }

            _core.SetResult(woken);
            return true;
        }

        bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
