using System.Diagnostics;

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

    /// <summary>Whether the owner is closed to new workers: the queue then accepts no job of it.</summary>
    bool IsClosed { get; }

    /// <summary>Leaves the owner: pairs with every <see cref="TryEnter"/>, whatever it returned.</summary>
    void Exit();
}

/// <summary>
/// The pool-wide queue of jobs waiting for a worker, each with the run (<typeparamref name="TOwner"/>) it belongs to,
/// the bound on how many jobs may wait at once, and the line of producers waiting for room. See docs/design.md,
/// "The queue and the admission line".
/// </summary>
/// <remarks>
/// <para>
/// Admission is first come, first served: once a producer waits for room, no job of a producer that arrives later
/// enters the queue before the waiting one. Room is handed over under the lock: at every job taken while two or more
/// producers wait, and otherwise once the queue has fallen to its low-water mark (half its capacity). Whoever frees room
/// writes the jobs of the waiters in line, first come first, into the queue itself, then wakes those waiters outside the
/// lock. A waiter may hold several jobs, admitted together once there is room for all of them. A cancelled waiter leaves
/// the line at once.
/// </para>
/// <para>
/// A worker takes one job at a time, entering its owner under this lock (<see cref="IJobQueueOwner.TryEnter"/>); a taken
/// job no longer counts as waiting. With hands (WorkerBatchSize above 1), it may take more of the owner's jobs into its
/// <see cref="Hand"/>; they hold their room until the holder comes back to the lock. The jobs of a closed owner are set
/// aside, out of every worker's reach, until the owner's finish takes them (<see cref="RemoveAll"/>). So every job is, at
/// every moment, in the queue, set aside, in a waiter's hands, or in the hands of a worker the owner waits for.
/// </para>
/// </remarks>
/// <typeparam name="TOwner">The owner of a job: its run.</typeparam>
/// <typeparam name="TItem">A job.</typeparam>
internal sealed class JobQueue<TOwner, TItem> : IWorkQueue
    where TOwner : class, IJobQueueOwner
{
    // Taken once per job by every worker, and by producers: the pool's hottest lock. System.Threading.Lock in the net10.0
    // build measured faster than Monitor under contention (docs/design.md, "Locks").
#if NET9_0_OR_GREATER
    private readonly Lock _sync = new();
#else
    private readonly object _sync = new();
#endif
    private readonly int _capacity;

    // A line of one producer is admitted once the jobs waiting fall to this mark, half the capacity, not at each job
    // taken: the producer then finds room for half the queue, and writes it without waiting again. A line of two or
    // more is admitted at each job taken: there the gap would leave room unused while callers wait, and lengthen the
    // slowest callers' wait (docs/design.md, "The queue and the admission line").
    private readonly int _lowWater;

    // Guarded by _sync: a ring of _count entries from _head, and the jobs of closed owners, set aside. _count is also
    // read without the lock, as a hint (HasQueued).
    private Entry[] _ring;
    private int _head;
    private int _count;
    private readonly List<Entry> _setAside = [];

    // Jobs in workers' hands: taken with the first job of a hand (TryTake), holding their room until their holder
    // releases them, and every hand there is. Guarded by _sync.
    private int _inHands;
    private readonly List<Hand> _hands = [];
    private readonly int _handSize;

    // Jobs holding room: in the ring, set aside, or in a worker's hand. Written under _sync only; read without it.
    private int _waiting;

    // The admission line, first come first: an intrusive doubly linked list of waiting producers. Guarded by _sync.
    private Waiter? _first;
    private Waiter? _last;
    private int _lineLength;

    /// <param name="capacity">The most jobs that hold room at once.</param>
    /// <param name="handSize">The most jobs a worker's hand holds, beside the job it takes first; 0 for no hands.</param>
    internal JobQueue(int capacity, int handSize = 0)
    {
        _handSize = handSize;
        Debug.Assert(capacity > 0, "The queue holds at least one job.");
        _capacity = capacity;
        _lowWater = capacity - Math.Max(1, capacity / 2);
        _ring = new Entry[Math.Min(capacity, 16)];
    }

#if NET9_0_OR_GREATER
    private bool IsLockHeld => _sync.IsHeldByCurrentThread;
#else
    private bool IsLockHeld => Monitor.IsEntered(_sync);
#endif

    /// <summary>
    /// The most jobs one producer may wait in line with (<see cref="WriteAllAsync"/>): the room between the low-water mark
    /// and the capacity, so that a producer alone in line always fits once the queue has fallen to that mark.
    /// </summary>
    internal int MaxWaitingBatch => _capacity - _lowWater;

    /// <summary>
    /// Jobs that hold room: in the queue, of a closed owner and not yet taken by its finish, or in a worker's hand until
    /// its holder comes back to the lock (so also once its holder has run them), unless a thief took them.
    /// </summary>
    internal int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Producers waiting in line for room.</summary>
    internal int WaitingForRoom => Volatile.Read(ref _lineLength);

    /// <summary>Whether a job is in the queue, ready to be taken. A hint: it may change at once.</summary>
    internal bool HasQueued => Volatile.Read(ref _count) > 0;

    bool IWorkQueue.HasQueued => HasQueued;

    int IWorkQueue.Waiting => Waiting;

    int IWorkQueue.WaitingForRoom => WaitingForRoom;

    bool IWorkQueue.HasQueuedNow() => HasQueuedNow();

    /// <summary>
    /// Whether a job is in the queue, or unclaimed in a hand of an open owner (which a worker can steal), read under the
    /// queue's lock. A worker that lowered the pool's worker count and then finds no job here can retire: a producer that
    /// writes a job after this takes the same lock, so it then sees the lowered count and starts a worker itself.
    /// </summary>
    internal bool HasQueuedNow()
    {
        lock (_sync)
        {
            // A closed owner's jobs in a hand are its holder's to end (it is inside the owner): no other worker stays for them.
            return _count > 0 || (_inHands > 0 && _hands.Exists(static hand => hand.HasUnclaimed && hand.Owner is { IsClosed: false }));
        }
    }

    /// <summary>
    /// Room for how many more jobs the queue has now, or 0 while producers wait in line. A hint: it may change at once.
    /// </summary>
    internal int FreeRoom => Volatile.Read(ref _lineLength) > 0 ? 0 : Math.Max(0, _capacity - Volatile.Read(ref _waiting));

    /// <summary>
    /// Writes <paramref name="item"/> of <paramref name="owner"/> if the queue has room, nobody waits in line before it,
    /// and the owner is open. Any thread.
    /// </summary>
    internal bool TryWrite(TOwner owner, TItem item) => TryWriteMany(owner, new ReadOnlySpan<TItem>(in item)) == 1;

    /// <summary>
    /// Writes the first of <paramref name="items"/> of <paramref name="owner"/>, in order, as many as the queue has room
    /// for, unless producers wait in line or the owner is closed. Returns how many it wrote. Any thread.
    /// </summary>
    internal int TryWriteMany(TOwner owner, ReadOnlySpan<TItem> items)
    {
        lock (_sync)
        {
            AssertInvariants();
            if (_first is not null || owner.IsClosed)
            {
                return 0;
            }

            int written = Math.Min(items.Length, _capacity - _waiting);
            if (written <= 0)
            {
                return 0;
            }

            EnsureRoom(written);
            for (int i = 0; i < written; i++)
            {
                _ring[(_head + _count + i) % _ring.Length] = new Entry(owner, items[i]);
            }

            Volatile.Write(ref _count, _count + written);
            Volatile.Write(ref _waiting, _waiting + written);
            AssertInvariants();
            return written;
        }
    }

    /// <summary>
    /// Writes <paramref name="item"/> of <paramref name="owner"/>, waiting in line while the queue is full or others wait
    /// before it. Returns <see langword="true"/> once the job is in the queue (written here, or by whoever handed this
    /// waiter its room), and <see langword="false"/>, without writing and without throwing, once
    /// <paramref name="cancellationToken"/> is cancelled or the owner is closed. <paramref name="waiter"/> is the
    /// producer's own, reused from one wait to the next: a wait allocates nothing.
    /// </summary>
    internal ValueTask<bool> WriteAsync(TOwner owner, TItem item, Waiter waiter, CancellationToken cancellationToken) =>
        WriteAsync(owner, new Jobs(item), waiter, cancellationToken);

    /// <summary>
    /// Writes <paramref name="count"/> jobs of <paramref name="owner"/> from <paramref name="items"/>, starting at
    /// <paramref name="offset"/>, all together and in order: at once if the queue has room for all of them and nobody
    /// waits in line, or else once their turn in line comes and there is room for all of them. Returns
    /// <see langword="true"/> once every one of them is in the queue, and <see langword="false"/>, with none written,
    /// once <paramref name="cancellationToken"/> is cancelled or the owner is closed. The array is read until the wait
    /// ends. One place in line for several jobs: one wake-up for all of them.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="count"/> is less than 1 or more than <see cref="MaxWaitingBatch"/>: so many jobs might never find
    /// room together.
    /// </exception>
    internal ValueTask<bool> WriteAllAsync(TOwner owner, TItem[] items, int offset, int count, Waiter waiter, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxWaitingBatch);
        return WriteAsync(owner, new Jobs(items, offset, count), waiter, cancellationToken);
    }

    private ValueTask<bool> WriteAsync(TOwner owner, Jobs jobs, Waiter waiter, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return new ValueTask<bool>(false);
        }

        ValueTask<bool> admitted;
        lock (_sync)
        {
            AssertInvariants();
            if (owner.IsClosed)
            {
                return new ValueTask<bool>(false);
            }

            if (_first is null && _waiting + jobs.Count <= _capacity)
            {
                WriteCore(owner, jobs);
                AssertInvariants();
                return new ValueTask<bool>(true);
            }

            admitted = waiter.Arm(this, owner, jobs);
            Append(waiter);
            AssertInvariants();
        }

        // A cancellation takes the waiter out of the line, unless it was handed its room first. The waiter removes the
        // registration once its producer has taken the wait's result, so a wait allocates nothing of its own.
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Watch(cancellationToken);
        }

        return admitted;
    }

    /// <summary>Takes one job, with no hand: <see cref="TryTake(TOwner?, Hand?, bool, out TOwner?, out TItem)"/>.</summary>
    internal bool TryTake(TOwner? entered, out TOwner? owner, out TItem item) => TryTake(entered, hand: null, fill: false, out owner, out item);

    /// <summary>
    /// Takes the job at the head of the queue and enters its owner, unless the caller is inside that owner already
    /// (<paramref name="entered"/>): a worker stays inside a run while it takes that run's jobs one after the other, and
    /// leaves it (<see cref="IJobQueueOwner.Exit"/>) once it takes another owner's job, or none. Owners found closed on
    /// the way have their jobs set aside; the caller's own, if closed, too, and the caller then leaves it. With an empty
    /// queue, takes a job from another worker's <see cref="Hand"/> instead, if one is left there. If the take frees room
    /// for the line (two or more waiting, or the queue at its low-water mark), the room goes to the waiters in line.
    /// Returns <see langword="false"/> if no job is queued or in a hand.
    /// </summary>
    /// <param name="entered">The owner the caller is inside, if any.</param>
    /// <param name="hand">
    /// The caller's hand, if it has one, with every job of it claimed: the jobs its holder claimed give their room back
    /// here.
    /// </param>
    /// <param name="fill">
    /// Whether to fill <paramref name="hand"/> with more jobs of the same owner: the consecutive ones right behind the
    /// first, at most a quarter of the jobs left in the queue, so that other workers find their share.
    /// </param>
    /// <param name="owner">The owner of the job taken.</param>
    /// <param name="item">The job taken.</param>
    internal bool TryTake(TOwner? entered, Hand? hand, bool fill, out TOwner? owner, out TItem item)
    {
        TOwner? toExit = null;
        List<TOwner>? moreToExit = null;
        Waiter? admitted = null;
        owner = null;
        item = default!;
        lock (_sync)
        {
            AssertInvariants();
            bool released = hand is not null && hand.Release(this);
            while (_count > 0)
            {
                TOwner head = _ring[_head].Owner!;
                bool inside = ReferenceEquals(head, entered);

                // Inside already: the worker's earlier entry still counts, and it reads the owner's closed flag after
                // it, as TryEnter does.
                if (inside ? head.IsClosed : !head.TryEnter())
                {
                    SetAsideHeadRunOf(head);

                    // A refused entry is left after the lock; an owner the caller is inside, the caller leaves itself,
                    // once it sees it took none of its jobs.
                    if (!inside)
                    {
                        AddToExit(head, ref toExit, ref moreToExit);
                    }

                    continue;
                }

                owner = head;
                item = TakeHead();
                int held = 0;
                if (fill && hand is not null)
                {
                    Debug.Assert(hand.Held == 0, "A hand is filled only once it is empty.");
                    int most = Math.Min(hand.Room, _count / 4);
                    while (held < most && ReferenceEquals(_ring[_head].Owner, head))
                    {
                        hand.Add(head, TakeHead());
                        held++;
                    }
                }

                Volatile.Write(ref _count, _count - 1 - held);
                Volatile.Write(ref _waiting, _waiting - 1);
                _inHands += held;
                break;
            }

            if (owner is null && _inHands > 0)
            {
                owner = Steal(entered, ref toExit, ref moreToExit, out item);
            }

            // Room freed (a job taken or stolen, a hand's jobs released) goes to the line.
            if (owner is not null || released)
            {
                admitted = Admit();
            }

            AssertInvariants();
        }

        // Outside the lock: a waiter's continuation, and an Exit that may complete a closed owner's wait for its workers.
        Waiter.CompleteAll(admitted);
        toExit?.Exit();
        if (moreToExit is not null)
        {
            foreach (TOwner other in moreToExit)
            {
                other.Exit();
            }
        }

        return owner is not null;
    }

    /// <summary>
    /// Under the lock: notes an owner entered (or refused) on the way that the caller leaves once the lock is released: a
    /// closed owner whose jobs were set aside, or one entered to steal from a hand that was empty by then.
    /// </summary>
    private static void AddToExit(TOwner owner, ref TOwner? toExit, ref List<TOwner>? moreToExit)
    {
        if (toExit is null)
        {
            toExit = owner;
        }
        else
        {
            (moreToExit ??= []).Add(owner);
        }
    }

    /// <summary>
    /// Under the lock, with nothing queued: takes an unclaimed job from another worker's hand, entering its owner, so that
    /// no job waits in a hand while a worker has nothing to do (its holder may be busy with a long job, even one that
    /// waits for this one). A closed owner's jobs are left to their holder, who is inside it and ends them unstarted.
    /// </summary>
    private TOwner? Steal(TOwner? entered, ref TOwner? toExit, ref List<TOwner>? moreToExit, out TItem item)
    {
        item = default!;
        foreach (Hand hand in _hands)
        {
            TOwner? owner = hand.Owner;
            if (owner is null || !hand.HasUnclaimed)
            {
                continue;
            }

            bool inside = ReferenceEquals(owner, entered);
            if (inside ? owner.IsClosed : !owner.TryEnter())
            {
                if (!inside)
                {
                    AddToExit(owner, ref toExit, ref moreToExit);
                }

                continue;
            }

            if (hand.TryClaim(out item))
            {
                // Stolen: the job no longer holds room in the hand.
                _inHands--;
                Volatile.Write(ref _waiting, _waiting - 1);
                return owner;
            }

            // Its holder claimed the last one meanwhile: leave the owner again, unless the caller was inside it already.
            if (!inside)
            {
                AddToExit(owner, ref toExit, ref moreToExit);
            }
        }

        return null;
    }

    /// <summary>
    /// A worker's hand that it will not finish itself (its job has to wait, or the worker has to retire): releases the
    /// room of the jobs of it the holder claimed, and puts the unclaimed ones back at the head of the queue, in order,
    /// for any worker. If the owner closed meanwhile, its finish has taken its queued jobs already: nothing is put back,
    /// the jobs leave the queue, and are handed back in <paramref name="unstarted"/>: the caller, still inside the owner,
    /// ends them unstarted. Returns how many jobs were put back.
    /// </summary>
    internal int ReturnHand(Hand hand, out List<TItem>? unstarted)
    {
        Waiter? admitted;
        int putBack = 0;
        List<TItem>? ended = null;
        lock (_sync)
        {
            AssertInvariants();
            TOwner? owner = hand.Owner;
            _ = hand.Release(this);
            if (owner is not null)
            {
                int from = hand.ClaimRest(out int to);
                int count = to - from;
                _inHands -= count;
                if (!owner.IsClosed)
                {
                    EnsureRoom(count);
                    _head = (_head - count + _ring.Length) % _ring.Length;
                    for (int i = 0; i < count; i++)
                    {
                        _ring[(_head + i) % _ring.Length] = new Entry(owner, hand.Items[from + i]);
                    }

                    Volatile.Write(ref _count, _count + count);
                    putBack = count;
                }
                else
                {
                    Volatile.Write(ref _waiting, _waiting - count);
                    for (int i = from; i < to; i++)
                    {
                        (ended ??= []).Add(hand.Items[i]);
                    }
                }

                hand.Clear();
            }

            admitted = Admit();
            AssertInvariants();
        }

        Waiter.CompleteAll(admitted);
        unstarted = ended;
        return putBack;
    }

    /// <summary>Under the lock: takes the job at the head of the ring, without counting it.</summary>
    private TItem TakeHead()
    {
        TItem item = _ring[_head].Item;
        _ring[_head] = default;
        _head = (_head + 1) % _ring.Length;
        return item;
    }

    /// <summary>
    /// Takes every job of <paramref name="owner"/> still queued or set aside, in queue order, and sends its producer, if it
    /// waits in line, away with <see langword="false"/>. Call once the owner is closed: from then on the queue accepts no
    /// job of it, so a job of it is either taken here, in its producer's hands, or in the hands of a worker inside it.
    /// The room freed goes to the waiters in line.
    /// </summary>
    internal List<TItem>? RemoveAll(TOwner owner)
    {
        Debug.Assert(owner.IsClosed, "Only a closed owner's jobs are removed.");
        List<TItem>? removed = null;
        Waiter? completed = null;
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

            Volatile.Write(ref _count, kept);
            Volatile.Write(ref _waiting, _count + _setAside.Count + _inHands);

            // The owner's own producer, if it waits in line, will never be admitted.
            for (Waiter? waiter = _first; waiter is not null;)
            {
                Waiter? next = waiter.Next;
                if (ReferenceEquals(waiter.Owner, owner))
                {
                    Unlink(waiter);
                    waiter.Chain(false, ref completed);
                }

                waiter = next;
            }

            Waiter? admitted = Admit();
            Waiter.Concat(ref completed, admitted);
            AssertInvariants();
        }

        Waiter.CompleteAll(completed);
        return removed;
    }

    /// <summary>
    /// A cancelled waiter leaves the line, unless it was handed its room already, and the line is admitted under the
    /// same lock (the waiter behind it may fit now); the waiters admitted are completed after the lock is released.
    /// </summary>
    private void Cancel(Waiter waiter)
    {
        Waiter? admitted;
        lock (_sync)
        {
            AssertInvariants();
            if (!waiter.InLine)
            {
                return;
            }

            // The waiter behind it may need less room than it did, and fit now.
            Unlink(waiter);
            admitted = Admit();
            AssertInvariants();
        }

        waiter.Finish(false);
        Waiter.CompleteAll(admitted);
    }

    /// <summary>
    /// Under the lock: hands the room there is to the waiters in line, first come first, writing each one's jobs into the
    /// queue, if two or more wait or the queue is at its low-water mark. A waiter at the head whose owner closed
    /// meanwhile is sent away with <see langword="false"/> whatever the room: it writes nothing. Returns the chain of
    /// waiters to complete once the lock is released.
    /// </summary>
    private Waiter? Admit()
    {
        Debug.Assert(IsLockHeld, "The queue lock must be held.");
        Waiter? chain = null;
        bool admitting = _waiting <= _lowWater || _lineLength >= 2;
        while (_first is { } waiter)
        {
            if (waiter.Owner!.IsClosed)
            {
                // Its run's finish would send it away too (RemoveAll), but it must not hold up the waiters behind it
                // until then.
                Unlink(waiter);
                waiter.Chain(false, ref chain);
                continue;
            }

            // The waiter at the head is admitted once there is room for all its jobs; nobody behind it goes first.
            if (!admitting || _waiting + waiter.Jobs.Count > _capacity)
            {
                break;
            }

            Unlink(waiter);
            WriteCore(waiter.Owner, waiter.Jobs);
            waiter.Chain(true, ref chain);
        }

        return chain;
    }

    private void Append(Waiter waiter)
    {
        waiter.InLine = true;
        waiter.Prev = _last;
        waiter.Next = null;
        if (_last is null)
        {
            _first = waiter;
        }
        else
        {
            _last.Next = waiter;
        }

        _last = waiter;
        Volatile.Write(ref _lineLength, _lineLength + 1);
    }

    private void Unlink(Waiter waiter)
    {
        Debug.Assert(waiter.InLine, "Only a waiter in line is unlinked.");
        if (waiter.Prev is null)
        {
            _first = waiter.Next;
        }
        else
        {
            waiter.Prev.Next = waiter.Next;
        }

        if (waiter.Next is null)
        {
            _last = waiter.Prev;
        }
        else
        {
            waiter.Next.Prev = waiter.Prev;
        }

        waiter.Prev = null;
        waiter.Next = null;
        waiter.InLine = false;
        Volatile.Write(ref _lineLength, _lineLength - 1);
    }

    private void WriteCore(TOwner owner, Jobs jobs)
    {
        for (int i = 0; i < jobs.Count; i++)
        {
            WriteCore(owner, jobs[i]);
        }
    }

    private void WriteCore(TOwner owner, TItem item)
    {
        EnsureRoom(1);
        _ring[(_head + _count) % _ring.Length] = new Entry(owner, item);
        Volatile.Write(ref _count, _count + 1);
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
            Volatile.Write(ref _count, _count - 1);
        }
    }

    private void EnsureRoom(int more)
    {
        // Stryker disable once Equality,Statement : growing a ring that still fits only costs memory
        if (_count + more <= _ring.Length)
        {
            return;
        }

        int length = _ring.Length;
        // Stryker disable once Equality : one more doubling only costs memory
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
        Debug.Assert(IsLockHeld, "The queue lock must be held.");
        Debug.Assert(_count >= 0 && _count <= _ring.Length, "The ring holds more jobs than it has room for.");
        Debug.Assert(_inHands >= 0, "Workers hold fewer than no jobs.");
        Debug.Assert(_count + _setAside.Count + _inHands == _waiting, "The waiting count differs from the jobs queued, set aside and in hands.");
        Debug.Assert(_waiting <= _capacity, "More jobs wait than the queue's capacity.");
        Debug.Assert(_first is null || _waiting > _lowWater, "A producer waits in line while the queue is at or below its low-water mark.");
        Debug.Assert((_first is null) == (_last is null) && (_first is null) == (_lineLength == 0), "The line's ends and length disagree.");
    }

    private readonly record struct Entry(TOwner? Owner, TItem Item);

    /// <summary>The jobs of one write: one job, or <see cref="Count"/> jobs of an array from an offset.</summary>
    internal readonly struct Jobs
    {
        private readonly TItem _item;
        private readonly TItem[]? _items;
        private readonly int _offset;

        internal Jobs(TItem item)
        {
            _item = item;
            Count = 1;
        }

        internal Jobs(TItem[] items, int offset, int count)
        {
            _item = default!;
            _items = items;
            _offset = offset;
            Count = count;
        }

        internal int Count { get; }

        internal TItem this[int index] => _items is null ? _item : _items[_offset + index];
    }

    /// <summary>A hand for one worker, known to the queue so that other workers can take its jobs.</summary>
    internal Hand NewHand()
    {
        Debug.Assert(_handSize > 0, "A queue made without hands hands out none.");
        var hand = new Hand(_handSize);
        lock (_sync)
        {
            _hands.Add(hand);
        }

        return hand;
    }

    /// <summary>
    /// A worker's hand: more jobs of one owner, taken with the worker's last job so that it runs them without the queue's
    /// lock. Its holder claims them one at a time (<see cref="TryClaim"/>), without the lock; another worker that finds
    /// the queue empty may claim one under the lock (stealing). Every job of it is claimed exactly once, by one of them,
    /// or given back (<see cref="ReturnHand"/>). Filled and emptied only under the queue's lock, by its holder.
    /// </summary>
    internal sealed class Hand(int size)
    {
        internal readonly TItem[] Items = new TItem[size];

        // The owner of the jobs, and how many there are: written under the queue's lock, only once every job is claimed.
        internal TOwner? Owner { get; private set; }

        internal int Held { get; private set; }

        // Claims: Interlocked, by the holder (without the lock) and by thieves (under it); the next index to claim.
        private int _claimed;

        // Claimed by the holder itself since the hand was filled: their room is released at its next take.
        private int _byHolder;

        /// <summary>Room for more jobs: the hand is filled only once it is empty.</summary>
        internal int Room => Held == 0 ? Items.Length : 0;

        /// <summary>Whether a job of the hand is still unclaimed.</summary>
        internal bool HasUnclaimed => Volatile.Read(ref _claimed) < Held;

        /// <summary>Under the lock, by the holder: adds a job taken from the queue.</summary>
        internal void Add(TOwner owner, TItem item)
        {
            Owner = owner;
            Items[Held++] = item;
        }

        /// <summary>Claims the next job of the hand, once: the holder's way, without the lock, or a thief's, under it.</summary>
        internal bool TryClaim(out TItem item)
        {
            int index = Interlocked.Increment(ref _claimed) - 1;
            if (index >= Held)
            {
                item = default!;
                return false;
            }

            item = Items[index];
            Items[index] = default!;
            return true;
        }

        /// <summary>The holder, without the lock: claims its next job.</summary>
        internal bool TryTakeNext(out TItem item)
        {
            if (Held == 0 || !TryClaim(out item))
            {
                item = default!;
                return false;
            }

            _byHolder++;
            return true;
        }

        /// <summary>Under the lock, by the holder: claims every job left, [from, to), for ReturnHand.</summary>
        internal int ClaimRest(out int to)
        {
            to = Held;
            return Math.Min(Interlocked.Exchange(ref _claimed, Held), Held);
        }

        /// <summary>
        /// Under the lock, by the holder, once every job is claimed: gives back the room of the jobs it claimed itself
        /// (a thief gave back the room of each job it took as it took it), and empties the hand for the next fill.
        /// </summary>
        /// <returns>Whether room was given back.</returns>
        internal bool Release(JobQueue<TOwner, TItem> queue)
        {
            int released = _byHolder;
            if (released > 0)
            {
                Debug.Assert(released <= queue._inHands, "A worker releases only jobs it holds.");
                queue._inHands -= released;
                Volatile.Write(ref queue._waiting, queue._waiting - released);
                _byHolder = 0;
            }

            if (Held > 0 && !HasUnclaimed)
            {
                Clear();
            }

            return released > 0;
        }

        /// <summary>Under the lock, by the holder, once every job is claimed or given back: empties the hand.</summary>
        internal void Clear()
        {
            Array.Clear(Items, 0, Held);
            Owner = null;
            Held = 0;
            Volatile.Write(ref _claimed, 0);
        }
    }

    /// <summary>
    /// A producer's place in the admission line, reused from one wait to the next. It holds the job or jobs it waits to
    /// write; the wait ends with <see langword="true"/> once they are all in the queue, or <see langword="false"/> if the
    /// wait was cancelled or the owner closed. One producer uses it, one wait at a time. Its links are guarded by the queue's lock.
    /// </summary>
    internal sealed class Waiter : ReusableWaiter<bool>
    {
        private JobQueue<TOwner, TItem>? _queue;
        private bool _result;

        internal TOwner? Owner { get; private set; }

        /// <summary>The jobs it waits to write, all together.</summary>
        internal Jobs Jobs { get; private set; }

        internal Waiter? Prev { get; set; }

        internal Waiter? Next { get; set; }

        internal bool InLine { get; set; }

        /// <summary>Under the queue's lock: starts a wait to write <paramref name="jobs"/>. Call only once the last wait's result was read.</summary>
        internal ValueTask<bool> Arm(JobQueue<TOwner, TItem> queue, TOwner owner, Jobs jobs)
        {
            _queue = queue;
            Owner = owner;
            Jobs = jobs;
            return Arm();
        }

        // The registration of the current wait on its token, made by WriteAsync after the lock and removed by the producer
        // once it has taken the wait's result.
        private CancellationTokenRegistration _watch;

        /// <summary>From the wait's cancellation: leaves the line, unless the waiter was handed its room already.</summary>
        internal void Cancel() => _queue!.Cancel(this);

        /// <summary>
        /// Producer side, after the lock: has a cancellation of <paramref name="cancellationToken"/> take the waiter out of
        /// line. If the token is already cancelled, that happens here.
        /// </summary>
        internal void Watch(CancellationToken cancellationToken) =>
            _watch = cancellationToken.UnsafeRegister(static state => ((Waiter)state!).Cancel(), this);

        /// <summary>Producer side, once the wait's result is taken: removes the registration, waiting for its callback if it runs now.</summary>
        protected override void OnResultTaken()
        {
            CancellationTokenRegistration watch = _watch;
            _watch = default;
            watch.Dispose();
        }

        /// <summary>Under the queue's lock, once out of the line: adds this waiter, with its result, to a chain to complete.</summary>
        internal void Chain(bool result, ref Waiter? chain)
        {
            _result = result;
            Next = chain;
            chain = this;
        }

        internal static void Concat(ref Waiter? chain, Waiter? more)
        {
            while (more is not null)
            {
                Waiter? next = more.Next;
                more.Next = chain;
                chain = more;
                more = next;
            }
        }

        /// <summary>Outside the lock: completes every waiter of a chain.</summary>
        internal static void CompleteAll(Waiter? chain)
        {
            while (chain is not null)
            {
                // Read the link first: once completed, the waiter may be armed again by its producer.
                Waiter? next = chain.Next;
                chain.Next = null;
                chain.Finish(chain._result);
                chain = next;
            }
        }

        /// <summary>Outside the lock: lets go of the job and ends the wait.</summary>
        internal void Finish(bool result)
        {
            Owner = null;
            Jobs = default;
            Complete(result);
        }
    }
}
