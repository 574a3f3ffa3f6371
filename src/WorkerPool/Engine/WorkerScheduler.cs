using System.Diagnostics;

namespace WorkerPool;

/// <summary>What the scheduler needs of the pool queue: whether a job waits, and the counts diagnostics show.</summary>
internal interface IWorkQueue
{
    /// <summary>Whether a job is in the queue, ready to be taken. A hint: it may change at once.</summary>
    bool HasQueued { get; }

    /// <summary>Whether a job is in the queue, read under the queue's lock.</summary>
    bool HasQueuedNow();

    /// <summary>Jobs waiting for a worker.</summary>
    int Waiting { get; }

    /// <summary>Producers waiting in line for room.</summary>
    int WaitingForRoom { get; }
}

/// <summary>
/// The pool's workers, whatever their jobs' types: how many run, in which slots, when one starts and when it retires,
/// the places lent to nested runs, and the wait for rest: no worker left and no hold of a run that returned past
/// ShutdownTimeout and has yet to count its last jobs. One per pool; the process-wide registry holds it for
/// <see cref="WorkerPoolDiagnostics"/> and the metrics' gauges. See docs/design.md, "Worker start and retire".
/// </summary>
/// <remarks>
/// Its lock guards the worker count, the free slots, the holds and the wait for rest; the worker count is also read without
/// it, as a hint. Under it, only the queue's lock is ever taken (<see cref="IWorkQueue.HasQueuedNow"/>), never the other
/// way round, and nothing outside the pool runs.
/// </remarks>
internal sealed class WorkerScheduler
{
    private readonly object _sync = new();
    private readonly IWorkQueue _queue;
    private readonly TimeProvider _time;
    private readonly Func<int, WorkerSlotBase> _newSlot;
    private readonly KeyValuePair<string, object?> _nameTag;

    // Every slot made so far, in its first _slotCount entries (the rest are null). A slot is made when a worker starts
    // and no slot made before is free, so the pool holds slots for the most workers it has had at once (places lent to
    // nested runs included), never for a bound it has not reached. When full, the array is replaced by one twice as
    // large; each entry is written once. Both under _sync; the array is read without it.
    private WorkerSlotBase?[] _slots = [];
    private int _slotCount;

    // Guarded by _sync. _activeWorkers is also read without the lock by producers (see "Worker start").
    private readonly Stack<int> _freeSlots = new();
    private int _activeWorkers;
    private int _peakWorkers;
    private TaskCompletionSource? _noWorkers;

    // Runs that returned past ShutdownTimeout and have yet to count their last jobs (see HoldRest). Guarded by _sync.
    private int _heldRests;

    // Places in the bound lent by jobs that wait for a nested run of this pool (JobScope.cs). Changed with Interlocked.
    private int _lent;
    private int _disposed;

    internal WorkerScheduler(string name, int maxWorkers, TimeProvider time, IWorkQueue queue, Func<int, WorkerSlotBase> newSlot)
    {
        Name = name;
        _time = time;
        MaxWorkers = maxWorkers;
        _queue = queue;
        _newSlot = newSlot;
        _nameTag = new KeyValuePair<string, object?>(WorkerPoolMetrics.PoolNameTag, name);
    }

    /// <summary>The pool's name.</summary>
    internal string Name { get; }

    /// <summary>The bound on workers, before lent places.</summary>
    internal int MaxWorkers { get; }

    /// <summary>The pool's name as a metrics tag.</summary>
    internal KeyValuePair<string, object?> NameTag => _nameTag;

    /// <summary>Whether the pool is disposed.</summary>
    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    internal int ActiveWorkers => Volatile.Read(ref _activeWorkers);

    internal int PeakWorkers => Volatile.Read(ref _peakWorkers);

    /// <summary>Places in the bound lent now by jobs that wait for a nested run of this pool.</summary>
    internal int LentPlaces => Volatile.Read(ref _lent);

    /// <summary>Jobs waiting for a worker.</summary>
    internal int QueuedJobs => _queue.Waiting;

    /// <summary>Producers and submitters waiting in line for room in the queue.</summary>
    internal int WaitingForRoom => _queue.WaitingForRoom;

    /// <summary>Every slot made so far, then nulls; read without a lock.</summary>
    internal WorkerSlotBase?[] Slots => Volatile.Read(ref _slots);

    /// <summary>The bound on workers now: MaxWorkers and the places lent (a long: MaxWorkers may be int.MaxValue).</summary>
    private long Bound => (long)MaxWorkers + Volatile.Read(ref _lent);

    internal void MarkDisposed() => Volatile.Write(ref _disposed, 1);

    /// <summary>Whether more workers exist than the bound allows now (after a nested run returned its lent place).</summary>
    internal bool IsOverBound() => Volatile.Read(ref _activeWorkers) > Bound;

    /// <summary>
    /// Called after jobs were queued (by a producer, or admitted from the line on its behalf), and when a job lends its
    /// place: starts workers, up to one per job queued, while the pool has room for one and a job is queued.
    /// </summary>
    internal void EnsureWorkers(int queued = 1)
    {
        for (int i = 0; i < queued && TryStartWorker(); i++)
        {
        }
    }

    /// <summary>A job that waits for a nested run lends its place in the bound; the lent place may be needed at once.</summary>
    internal void Lend()
    {
        Interlocked.Increment(ref _lent);
        EnsureWorkers();
    }

    /// <summary>The job holds its place again; a worker over the bound retires after its job.</summary>
    internal void TakeBack() => Interlocked.Decrement(ref _lent);

    /// <summary>Starts a worker if the pool has room for one and a job is queued; returns whether it did.</summary>
    private bool TryStartWorker()
    {
        // The job was queued under the queue's lock, and a retiring worker lowers the worker count before it checks the
        // queue under that same lock (TryRetireWorker): either it sees the job, or this sees the lowered count.
        // Stryker disable once Equality,Statement : a fast path; the check under the lock below decides
        if (Volatile.Read(ref _activeWorkers) >= Bound)
        {
            return false;
        }

        WorkerSlotBase? slot = null;
        lock (_sync)
        {
            if (_activeWorkers < Bound && _queue.HasQueued)
            {
                Interlocked.Increment(ref _activeWorkers);
                // Stryker disable once Equality : assigning an equal peak changes nothing
                if (_activeWorkers > _peakWorkers)
                {
                    _peakWorkers = _activeWorkers;
                }

                slot = _freeSlots.Count > 0 ? _slots[_freeSlots.Pop()] : NewSlotLocked();
            }

            AssertInvariants();
        }

        if (slot is null)
        {
            return false;
        }

        slot.MarkLive();
        WorkerPoolMetrics.RecordWorkers(1, _nameTag);

        // The worker is owned by the pool: DisposeAsync waits for it through WhenNoWorkersAsync.
        slot.Start();
        return true;
    }

    /// <summary>Under _sync, with no slot free: makes one more slot than ever before, for the worker about to start.</summary>
    private WorkerSlotBase NewSlotLocked()
    {
        WorkerSlotBase?[] slots = _slots;
        if (_slotCount == slots.Length)
        {
            // Stryker disable once Arithmetic : any growth that makes room works; doubling keeps the copies few
            slots = new WorkerSlotBase?[Math.Max(4, (int)Math.Min(2L * slots.Length, Array.MaxLength))];
            Array.Copy(_slots, slots, _slotCount);
            Volatile.Write(ref _slots, slots);
        }

        WorkerSlotBase slot = _newSlot(_slotCount);
        Volatile.Write(ref slots[_slotCount], slot);
        _slotCount++;
        return slot;
    }

    /// <summary>
    /// Called by a worker that found the queue empty. Returns <see langword="false"/> if a job was queued meanwhile,
    /// in which case the worker keeps working; otherwise the worker is retired and must return.
    /// </summary>
    internal bool TryRetireWorker(WorkerSlotBase slot)
    {
        TaskCompletionSource? noWorkers;
        lock (_sync)
        {
            Interlocked.Decrement(ref _activeWorkers);
            if (_queue.HasQueuedNow())
            {
                Interlocked.Increment(ref _activeWorkers);
                AssertInvariants();
                return false;
            }

            noWorkers = FreeSlotLocked(slot);
        }

        Retired(slot, noWorkers);
        return true;
    }

    /// <summary>
    /// Called by a worker between jobs while more workers exist than the bound allows (a nested run has returned the
    /// place it was lent). Retires the worker if that is still so; the workers left are at least the bound, so they
    /// take the queued jobs.
    /// </summary>
    internal bool TryRetireExcessWorker(WorkerSlotBase slot)
    {
        TaskCompletionSource? noWorkers;
        lock (_sync)
        {
            if (_activeWorkers <= Bound)
            {
                return false;
            }

            Interlocked.Decrement(ref _activeWorkers);
            noWorkers = FreeSlotLocked(slot);
        }

        Retired(slot, noWorkers);
        return true;
    }

    /// <summary>Under _sync, once the worker count is lowered: frees the slot; returns the wait for no workers to complete, if it was the last.</summary>
    private TaskCompletionSource? FreeSlotLocked(WorkerSlotBase slot)
    {
        _freeSlots.Push(slot.Id);
        TaskCompletionSource? noWorkers = TakeRestWaiterLocked();
        AssertInvariants();
        return noWorkers;
    }

    /// <summary>
    /// Keeps the pool from rest until the matching <see cref="ReleaseRest"/>: a run that returned past ShutdownTimeout
    /// still counts the jobs it never started once its stuck jobs and producer return, and
    /// <see cref="WhenNoWorkersAsync"/> (so drain and disposal) waits for that count.
    /// </summary>
    internal void HoldRest()
    {
        lock (_sync)
        {
            _heldRests++;
            AssertInvariants();
        }
    }

    /// <summary>Ends a <see cref="HoldRest"/>; completes the wait for rest if no worker and no other hold is left.</summary>
    internal void ReleaseRest()
    {
        TaskCompletionSource? noWorkers;
        lock (_sync)
        {
            _heldRests--;
            noWorkers = TakeRestWaiterLocked();
            AssertInvariants();
        }

        noWorkers?.TrySetResult();
    }

    /// <summary>Under _sync: whether the pool is at rest, with no worker and no run still counting its last jobs.</summary>
    private bool IsAtRestLocked() => _activeWorkers == 0 && _heldRests == 0;

    /// <summary>Under _sync: the pending wait for rest, taken to be completed after the lock, if the pool is at rest now.</summary>
    private TaskCompletionSource? TakeRestWaiterLocked()
    {
        if (!IsAtRestLocked())
        {
            return null;
        }

        TaskCompletionSource? noWorkers = _noWorkers;
        _noWorkers = null;
        return noWorkers;
    }

    /// <summary>After the lock: a retired worker's last words.</summary>
    private void Retired(WorkerSlotBase slot, TaskCompletionSource? noWorkers)
    {
        slot.MarkRetired();
        WorkerPoolMetrics.RecordWorkers(-1, _nameTag);
        noWorkers?.TrySetResult();
    }

    /// <summary>
    /// Returns a task that completes the next time the pool is at rest: it holds no worker task, and no run that returned
    /// past ShutdownTimeout has jobs left to count (at once if that is so now). Lets callers observe a pool at rest
    /// without polling.
    /// </summary>
    internal Task WhenNoWorkersAsync()
    {
        lock (_sync)
        {
            AssertInvariants();
            if (IsAtRestLocked())
            {
                return Task.CompletedTask;
            }

            _noWorkers ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _noWorkers.Task;
        }
    }

    /// <summary>Jobs executing now, counted over the slots without a lock.</summary>
    internal int CountRunningJobs()
    {
        int running = 0;
        foreach (WorkerSlotBase? slot in Slots)
        {
            if (slot is not null && slot.IsRunningJob)
            {
                running++;
            }
        }

        return running;
    }

    /// <summary>Executed jobs that ended with <paramref name="status"/>, summed over the slots.</summary>
    internal long SumOutcomes(JobStatus status)
    {
        long sum = 0;
        foreach (WorkerSlotBase? slot in Slots)
        {
            sum += slot?.Counted(status) ?? 0;
        }

        return sum;
    }

    /// <summary>Adds a description of each live worker to <paramref name="into"/>.</summary>
    internal void CollectLiveWorkers(List<LiveWorkerInfo> into)
    {
        long now = _time.GetTimestamp();
        foreach (WorkerSlotBase? slot in Slots)
        {
            if (slot is not null && slot.TryDescribeWorker(Name, now, out LiveWorkerInfo info))
            {
                into.Add(info);
            }
        }
    }

    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(Monitor.IsEntered(_sync), "The scheduler lock must be held.");
        Debug.Assert(_activeWorkers >= 0, "The worker count went negative.");
        Debug.Assert(_activeWorkers <= _peakWorkers, "The peak is below the current worker count.");
        Debug.Assert(_peakWorkers <= _slotCount, "More workers existed than slots.");
        Debug.Assert(_slotCount <= _slots.Length && (_slotCount == 0 || _slots[_slotCount - 1] is not null), "A slot made was not kept.");
        Debug.Assert(_freeSlots.Count == _slotCount - _activeWorkers, "Free worker slots do not match the worker count.");
        Debug.Assert(_heldRests >= 0, "More rests released than held.");
        Debug.Assert(_noWorkers is null || _activeWorkers > 0 || _heldRests > 0, "A wait for rest is pending while the pool is at rest.");
    }
}

/// <summary>
/// Per-worker state that outlives any one worker task, whatever its jobs' types: the slot's id, whether a worker task
/// lives in it, and the outcomes its workers counted. A slot passes from one worker task to the next under the
/// scheduler's lock. Queued to the thread pool to start a worker task in it (<see cref="Execute"/>).
/// </summary>
internal abstract class WorkerSlotBase(int id, TimeProvider time) : IThreadPoolWorkItem
{
    // _liveSince while no worker task runs in the slot: a value no clock reads in practice, as 0 could be.
    private const long NotLive = long.MinValue;

    // Outcomes of the jobs this slot's workers executed, by JobStatus, at [Padding + status]. Written only by the slot's
    // current worker; read by anyone, summed over all slots. The padding keeps two workers' counters off one cache line.
    private const int Padding = 8;
    // Stryker disable once Arithmetic : the padding only keeps counters apart in memory; any length that holds the four counters works
    private readonly long[] _outcomes = new long[Padding + 4 + Padding];
    private long _liveSince = NotLive;

    internal int Id { get; } = id;

    /// <summary>The pool's clock (<see cref="WorkerPoolOptions.TimeProvider"/>): every timestamp of the slot is one of its own.</summary>
    protected TimeProvider Time { get; } = time;

    /// <summary>Whether a job is executing in this slot now.</summary>
    internal abstract bool IsRunningJob { get; }

    /// <summary>Runs a worker task in this slot.</summary>
    public abstract void Execute();

    /// <summary>
    /// Starts a worker task in this slot (<see cref="Execute"/>) on the thread pool, in the default ExecutionContext: it
    /// belongs to no caller, and runs each job in that job's caller's context. A systematic test overrides it to start
    /// the worker as a task its scheduler controls.
    /// </summary>
    // Stryker disable once Boolean : preferLocal is a scheduling hint
    internal virtual void Start() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

    /// <summary>Describes the job executing in this slot, if there is one. Read without a lock.</summary>
    internal abstract bool TryDescribeRunningJob(string poolName, long now, out RunningJobInfo info);

    /// <summary>Records that a worker task now runs in this slot: the one interlocked write per worker start.</summary>
    internal void MarkLive() => Interlocked.Exchange(ref _liveSince, Time.GetTimestamp());

    /// <summary>Records that this slot's worker task has ended: the one interlocked write per worker end.</summary>
    internal void MarkRetired() => Interlocked.Exchange(ref _liveSince, NotLive);

    /// <summary>Describes the worker in this slot, if one is live, with its job if it is running one.</summary>
    internal bool TryDescribeWorker(string poolName, long now, out LiveWorkerInfo info)
    {
        long liveSince = Volatile.Read(ref _liveSince);
        if (liveSince == NotLive)
        {
            info = default;
            return false;
        }

        RunningJobInfo? job = TryDescribeRunningJob(poolName, now, out RunningJobInfo running) ? running : null;
        info = new LiveWorkerInfo
        {
            PoolName = poolName,
            WorkerId = Id,
            Age = Time.GetElapsedTime(liveSince, now),
            RunningJob = job,
        };
        return true;
    }

    /// <summary>The slot's worker counts one executed job's outcome.</summary>
    internal void Count(JobStatus status)
    {
        ref long counter = ref _outcomes[Padding + (int)status];
        Volatile.Write(ref counter, counter + 1);
    }

    /// <summary>How many executed jobs ended with <paramref name="status"/> in this slot.</summary>
    internal long Counted(JobStatus status) => Volatile.Read(ref _outcomes[Padding + (int)status]);
}
