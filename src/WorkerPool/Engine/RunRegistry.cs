using System.Diagnostics;
using System.Numerics;

namespace WorkerPool;

/// <summary>How <see cref="RunRegistry{TRun}.TryAdd"/> answered.</summary>
internal enum RunAdmission
{
    /// <summary>The run is in flight on the pool.</summary>
    Admitted,

    /// <summary>Refused: the pool is disposed.</summary>
    Disposed,

    /// <summary>Refused: the pool is draining, and the run was not started from inside one of its jobs.</summary>
    Draining,
}

/// <summary>
/// The runs in flight on one pool, for its drain and its disposal: admits a run unless the pool is draining or disposed,
/// hands disposal every run admitted before it, and tells a drain when none is left. See docs/design.md, "The runs in
/// flight".
/// </summary>
/// <remarks>
/// Every call of RunAsync, StreamAsync and SubmitAsync adds its run and removes it when it ends, so on a pool shared by
/// many callers these two are as frequent as the calls. The runs are spread over stripes, each with its own lock, by
/// the run's id; the count of all of them is kept with <see cref="Interlocked"/>. Disposal sets its flag, then reads
/// every stripe under that stripe's lock: an add that takes the stripe's lock before that read is in what it returns, and
/// one that takes it after sees the flag. The wait for no runs has a lock of its own, taken only by that wait and by
/// the removal of what may be the last run; no two of these locks are ever held together.
/// </remarks>
internal sealed class RunRegistry<TRun>
    where TRun : class
{
    private const int DrainingFlag = 1;
    private const int DisposedFlag = 2;

    private readonly Stripe[] _stripes;
    private readonly int _mask;

    // DrainingFlag and DisposedFlag, set with Interlocked.Or and never cleared.
    private int _state;

    // The runs admitted and not yet removed: incremented under the stripe's lock with the add, decremented after the
    // removal under it. Never below the number of runs in the stripes that a removal has yet to count.
    private int _count;

    // Guards _noRuns; taken alone.
    private readonly object _waitSync = new();
    private TaskCompletionSource? _noRuns;

    /// <summary>Creates a registry with <paramref name="stripes"/> stripes, a power of two.</summary>
    internal RunRegistry(int stripes)
    {
        if (stripes < 1 || !BitOperations.IsPow2(stripes))
        {
            throw new ArgumentOutOfRangeException(nameof(stripes), stripes, "The number of stripes must be a positive power of two.");
        }

        _stripes = new Stripe[stripes];
        for (int i = 0; i < stripes; i++)
        {
            _stripes[i] = new Stripe();
        }

        _mask = stripes - 1;
    }

    /// <summary>The stripes for a machine of <paramref name="processors"/> processors: two per processor, from 4 to 64.</summary>
    internal static int StripesFor(int processors) =>
        (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(processors * 2, 4, 64));

    /// <summary>Runs in flight now.</summary>
    internal int Count => Volatile.Read(ref _count);

    /// <summary>Whether the pool is draining (it may be disposed too).</summary>
    internal bool IsDraining => (Volatile.Read(ref _state) & DrainingFlag) != 0;

    /// <summary>Whether the pool is disposed.</summary>
    internal bool IsDisposed => (Volatile.Read(ref _state) & DisposedFlag) != 0;

    /// <summary>
    /// Admits <paramref name="run"/>, kept under <paramref name="key"/> (its id), unless the pool is disposed, or is
    /// draining and the run is not <paramref name="nested"/> in one of its jobs.
    /// </summary>
    internal RunAdmission TryAdd(TRun run, long key, bool nested)
    {
        Stripe stripe = StripeOf(key);
        lock (stripe)
        {
            int state = Volatile.Read(ref _state);
            if ((state & DisposedFlag) != 0)
            {
                return RunAdmission.Disposed;
            }

            if ((state & DrainingFlag) != 0 && !nested)
            {
                return RunAdmission.Draining;
            }

            bool added = stripe.Runs.Add(run);
            Debug.Assert(added, "A run is admitted once.");
            Interlocked.Increment(ref _count);
        }

        return RunAdmission.Admitted;
    }

    /// <summary>Removes an admitted run; the last one out ends the wait for no runs.</summary>
    internal void Remove(TRun run, long key)
    {
        Stripe stripe = StripeOf(key);
        lock (stripe)
        {
            bool removed = stripe.Runs.Remove(run);
            Debug.Assert(removed, "Only an admitted run is removed, once.");
        }

        int left = Interlocked.Decrement(ref _count);
        Debug.Assert(left >= 0, "No more runs are removed than were admitted.");
        if (left == 0)
        {
            EndWaitIfEmpty();
        }
    }

    /// <summary>Whether <paramref name="run"/> is in flight; for assertions.</summary>
    internal bool Contains(TRun run, long key)
    {
        Stripe stripe = StripeOf(key);
        lock (stripe)
        {
            return stripe.Runs.Contains(run);
        }
    }

    /// <summary>
    /// From now on, admits only runs started from inside the pool's jobs. Returns once every add that read the flag
    /// before it was set has counted its run, so that a wait for no runs made after this call waits for those too.
    /// </summary>
    internal void StartDraining()
    {
        Interlocked.Or(ref _state, DrainingFlag);

        // An add reads the flag and counts its run under its stripe's lock: passing every stripe's lock once lets each
        // add in progress finish. One that takes its lock after this sees the flag.
        foreach (Stripe stripe in _stripes)
        {
            lock (stripe)
            {
            }
        }
    }

    /// <summary>
    /// From now on, admits no run. Returns whether this was the first close, and in <paramref name="runs"/> every run
    /// in flight: each one admitted before this call is there unless it was removed meanwhile.
    /// </summary>
    internal bool Close(out TRun[] runs)
    {
        bool first = (Interlocked.Or(ref _state, DisposedFlag) & DisposedFlag) == 0;
        runs = Snapshot();
        return first;
    }

    /// <summary>The runs in flight now, stripe by stripe.</summary>
    internal TRun[] Snapshot()
    {
        var runs = new List<TRun>();
        foreach (Stripe stripe in _stripes)
        {
            lock (stripe)
            {
                runs.AddRange(stripe.Runs);
            }
        }

        return [.. runs];
    }

    /// <summary>Returns a task that completes the next time no run is in flight (at once if none is now).</summary>
    internal Task WhenEmptyAsync()
    {
        lock (_waitSync)
        {
            if (Volatile.Read(ref _count) == 0)
            {
                return Task.CompletedTask;
            }

            _noRuns ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _noRuns.Task;
        }
    }

    /// <summary>
    /// After a removal that left no run: ends the wait if the count is still zero under the wait's lock. A run admitted
    /// meanwhile keeps the wait for its own removal; a wait that read a count above zero was made before this lock was
    /// taken, so this sees it.
    /// </summary>
    private void EndWaitIfEmpty()
    {
        TaskCompletionSource? noRuns = null;
        lock (_waitSync)
        {
            if (Volatile.Read(ref _count) == 0)
            {
                noRuns = _noRuns;
                _noRuns = null;
            }
        }

        noRuns?.TrySetResult();
    }

    private Stripe StripeOf(long key) => _stripes[(int)key & _mask];

    /// <summary>One stripe: its runs, guarded by the stripe itself.</summary>
    private sealed class Stripe
    {
        internal readonly HashSet<TRun> Runs = [];
    }
}
