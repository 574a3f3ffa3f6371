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
/// producers wait, and otherwise once the queue has fallen to its low-water mark (16 jobs below its capacity, or half of
/// it if that is less). Whoever frees room writes the jobs of the waiters in line, first come first, into the queue
/// itself, then wakes those waiters outside the lock. A cancelled waiter leaves the line at once.
/// </para>
/// <para>
/// A worker takes one job at a time, entering its owner under this lock (<see cref="IJobQueueOwner.TryEnter"/>); a taken
/// job no longer counts as waiting. The jobs of a closed owner are set aside, out of every worker's reach, until the
/// owner's finish takes them (<see cref="RemoveAll"/>). So every job is, at every moment, in the queue, set aside, in a
/// waiter's hands, or in the hands of a worker the owner waits for.
/// </para>
/// </remarks>
/// <typeparam name="TOwner">The owner of a job: its run.</typeparam>
/// <typeparam name="TItem">A job.</typeparam>
internal sealed class JobQueue<TOwner, TItem> : IWorkQueue
    where TOwner : class, IJobQueueOwner
{
    private readonly object _sync = new();
    private readonly int _capacity;

    // A line of one producer is admitted once the jobs waiting fall to this mark, not at each job taken: the producer
    // then finds room for up to 16 jobs (half a small queue), and writes them without waiting again. A line of two or
    // more is admitted at each job taken: there the gap would leave room unused while callers wait, and lengthen the
    // slowest callers' wait (docs/design.md, "The queue and the admission line").
    private readonly int _lowWater;

    // Guarded by _sync: a ring of _count entries from _head, and the jobs of closed owners, set aside. _count is also
    // read without the lock, as a hint (HasQueued).
    private Entry[] _ring;
    private int _head;
    private int _count;
    private readonly List<Entry> _setAside = [];

    // Jobs holding room: in the ring or set aside. Written under _sync only; read without it.
    private int _waiting;

    // The admission line, first come first: an intrusive doubly linked list of waiting producers. Guarded by _sync.
    private Waiter? _first;
    private Waiter? _last;
    private int _lineLength;

    internal JobQueue(int capacity)
    {
        Debug.Assert(capacity > 0, "The queue holds at least one job.");
        _capacity = capacity;
        _lowWater = capacity - Math.Max(1, Math.Min(capacity / 2, 16));
        _ring = new Entry[Math.Min(capacity, 16)];
    }

    /// <summary>Jobs waiting for a worker: in the queue, or of a closed owner and not yet taken by its finish.</summary>
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
    internal ValueTask<bool> WriteAsync(TOwner owner, TItem item, Waiter waiter, CancellationToken cancellationToken)
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

            if (_first is null && _waiting < _capacity)
            {
                WriteCore(owner, item);
                AssertInvariants();
                return new ValueTask<bool>(true);
            }

            admitted = waiter.Arm(this, owner, item);
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

    /// <summary>
    /// Takes the job at the head of the queue and enters its owner, unless the caller is inside that owner already
    /// (<paramref name="entered"/>): a worker stays inside a run while it takes that run's jobs one after the other, and
    /// leaves it (<see cref="IJobQueueOwner.Exit"/>) once it takes another owner's job, or none. Owners found closed on
    /// the way have their jobs set aside; the caller's own, if closed, too, and the caller then leaves it. If the take
    /// frees room for the line (two or more waiting, or the queue at its low-water mark), the room goes to the waiters in
    /// line. Returns <see langword="false"/> if no
    /// job is queued.
    /// </summary>
    internal bool TryTake(TOwner? entered, out TOwner? owner, out TItem item)
    {
        TOwner? closed = null;
        List<TOwner>? moreClosed = null;
        Waiter? admitted = null;
        owner = null;
        item = default!;
        lock (_sync)
        {
            AssertInvariants();
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
                        if (closed is null)
                        {
                            closed = head;
                        }
                        else
                        {
                            (moreClosed ??= []).Add(head);
                        }
                    }

                    continue;
                }

                owner = head;
                item = _ring[_head].Item;
                _ring[_head] = default;
                _head = (_head + 1) % _ring.Length;
                Volatile.Write(ref _count, _count - 1);
                Volatile.Write(ref _waiting, _waiting - 1);
                admitted = Admit();
                break;
            }

            AssertInvariants();
        }

        // Outside the lock: a waiter's continuation, and an Exit that may complete a closed owner's wait for its workers.
        Waiter.CompleteAll(admitted);
        closed?.Exit();
        if (moreClosed is not null)
        {
            foreach (TOwner other in moreClosed)
            {
                other.Exit();
            }
        }

        return owner is not null;
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
            Volatile.Write(ref _waiting, _count + _setAside.Count);

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

    /// <summary>Under the lock: a cancelled waiter leaves the line, unless it was handed its room already.</summary>
    private void Cancel(Waiter waiter)
    {
        lock (_sync)
        {
            AssertInvariants();
            if (!waiter.InLine)
            {
                return;
            }

            Unlink(waiter);
            AssertInvariants();
        }

        waiter.Finish(false);
    }

    /// <summary>
    /// Under the lock: hands the room there is to the waiters in line, first come first, writing each one's job into the
    /// queue (or sending it away with <see langword="false"/> if its owner closed meanwhile), if two or more wait or the
    /// queue is at its low-water mark. Returns the chain of waiters to complete once the lock is released.
    /// </summary>
    private Waiter? Admit()
    {
        Debug.Assert(Monitor.IsEntered(_sync), "The queue lock must be held.");
        Waiter? chain = null;
        if (_first is null || (_waiting > _lowWater && _lineLength < 2))
        {
            return null;
        }

        while (_first is { } waiter && _waiting < _capacity)
        {
            Unlink(waiter);
            bool written = !waiter.Owner!.IsClosed;
            if (written)
            {
                WriteCore(waiter.Owner, waiter.Item);
            }

            waiter.Chain(written, ref chain);
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
        Debug.Assert(_count + _setAside.Count == _waiting, "The waiting count differs from the jobs queued and set aside.");
        Debug.Assert(_waiting <= _capacity, "More jobs wait than the queue's capacity.");
        Debug.Assert(_first is null || _waiting > _lowWater, "A producer waits in line while the queue is at or below its low-water mark.");
        Debug.Assert((_first is null) == (_last is null) && (_first is null) == (_lineLength == 0), "The line's ends and length disagree.");
    }

    private readonly record struct Entry(TOwner? Owner, TItem Item);

    /// <summary>
    /// A producer's place in the admission line, reused from one wait to the next. It holds the job it waits to write;
    /// the wait ends with <see langword="true"/> once that job is in the queue, or <see langword="false"/> if the wait
    /// was cancelled or the owner closed. One producer uses it, one wait at a time. Its links are guarded by the queue's lock.
    /// </summary>
    internal sealed class Waiter : ReusableWaiter<bool>
    {
        private JobQueue<TOwner, TItem>? _queue;
        private bool _result;

        internal TOwner? Owner { get; private set; }

        internal TItem Item { get; private set; } = default!;

        internal Waiter? Prev { get; set; }

        internal Waiter? Next { get; set; }

        internal bool InLine { get; set; }

        /// <summary>Under the queue's lock: starts a wait to write <paramref name="item"/>. Call only once the last wait's result was read.</summary>
        internal ValueTask<bool> Arm(JobQueue<TOwner, TItem> queue, TOwner owner, TItem item)
        {
            _queue = queue;
            Owner = owner;
            Item = item;
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
            Item = default!;
            Complete(result);
        }
    }
}
