using System.Diagnostics;

namespace WorkerPool;

/// <summary>
/// The ExecutionContext a run's jobs execute in: the caller's, captured when the run starts (the default context if the
/// caller suppressed flow), marked with an <see cref="IJobMark"/> that says which pool, run and worker slot the job runs
/// on. The mark lets a call on a pool tell that it comes from inside one of that pool's own jobs still running
/// (<see cref="FindLiveMark"/>), so that the job can lend its place in the bound to the nested run instead of holding
/// it while it waits. See docs/design.md, "Nested runs".
/// </summary>
internal static class JobScope
{
    private static readonly AsyncLocal<IJobMark?> CurrentMark = new();

    /// <summary>The default context, with no AsyncLocal set: captured once, on a thread that started with nothing flowed to it.</summary>
    internal static ExecutionContext DefaultContext { get; } = CaptureDefault();

    /// <summary>The mark of the job the calling code runs in, if any (live or not); a new run keeps it as its outer mark.</summary>
    internal static IJobMark? Current => CurrentMark.Value;

    /// <summary>
    /// The mark of a job of <paramref name="pool"/> that the calling code runs in and that is still running, looking
    /// through the jobs of other pools it is nested in; <see langword="null"/> if there is none.
    /// </summary>
    internal static IJobMark? FindLiveMark(object pool)
    {
        for (IJobMark? mark = CurrentMark.Value; mark is not null; mark = mark.Outer)
        {
            if (ReferenceEquals(mark.OwnerPool, pool) && mark.IsLive)
            {
                return mark;
            }
        }

        return null;
    }

    /// <summary>
    /// Builds the context the jobs of one run execute in on one worker slot: <paramref name="callerContext"/> (the default
    /// context if <see langword="null"/>) with <paramref name="mark"/> set.
    /// </summary>
    internal static ExecutionContext ContextFor(ExecutionContext? callerContext, IJobMark mark)
    {
        ExecutionContext.Run(callerContext ?? DefaultContext, static mark => Capture((IJobMark)mark!), mark);
        ExecutionContext? marked = t_marked;
        t_marked = null;
        Debug.Assert(marked is not null, "The marked context was captured.");
        return marked!;
    }

    // The context ContextFor captured, handed out of ExecutionContext.Run on the same thread without allocating.
    [ThreadStatic]
    private static ExecutionContext? t_marked;

    /// <summary>Runs inside the caller's context: sets the mark, and captures the result.</summary>
    private static void Capture(IJobMark mark)
    {
        CurrentMark.Value = mark;
        t_marked = ExecutionContext.Capture();
    }

    private static ExecutionContext CaptureDefault()
    {
        ExecutionContext? captured = null;

        // UnsafeStart flows nothing to the thread: what it captures is the default context.
        // Stryker disable once Initializer,Boolean,String : the thread's name and background flag are not observable: it ends at once and is joined
        var thread = new Thread(() => captured = ExecutionContext.Capture()) { IsBackground = true, Name = "WorkerPool context capture" };
        thread.UnsafeStart();
        thread.Join();
        return captured!;
    }

}

/// <summary>A worker slot, as an <see cref="IJobMark"/> sees it.</summary>
internal interface IJobSlot
{
    /// <summary>Whether the slot is executing a job of <paramref name="run"/> now.</summary>
    bool IsRunning(object run);
}

/// <summary>
/// The mark carried by the context of the jobs of one run on one worker slot. It is live while that slot executes a job
/// of that run; one slot executes one job at a time, so a live mark stands for exactly one job. It counts that job's
/// nested runs in flight (<see cref="NestedRunCount"/>): the job lends its place in the bound while the count is above
/// zero, once, however many nested runs it waits for.
/// </summary>
/// <remarks>
/// A run is itself the mark of the first slot that runs one of its jobs, so a one-job run (a submission) allocates no
/// mark of its own; every other slot of the run gets a <see cref="SlotMark"/>. An interface, because a run's base class
/// is its token source.
/// </remarks>
internal interface IJobMark
{
    /// <summary>The pool whose job this mark stands for.</summary>
    object OwnerPool { get; }

    /// <summary>The mark of the job, of any pool, that started the run this mark's job belongs to.</summary>
    IJobMark? Outer { get; }

    /// <summary>Whether the mark's slot is executing a job of the mark's run now.</summary>
    bool IsLive { get; }

    /// <summary>A nested run started: returns <see langword="true"/> if it is the job's first, so its place is to be lent.</summary>
    bool EnterNested();

    /// <summary>A nested run ended: returns <see langword="true"/> if it was the job's last, so its place comes back.</summary>
    bool ExitNested();
}

/// <summary>The count of a job's nested runs in flight, kept by its <see cref="IJobMark"/>.</summary>
internal struct NestedRunCount
{
    private int _count;

    /// <summary>Returns <see langword="true"/> for the first nested run in flight.</summary>
    internal bool Enter() => Interlocked.Increment(ref _count) == 1;

    /// <summary>Returns <see langword="true"/> when the last nested run in flight ended.</summary>
    internal bool Exit()
    {
        int count = Interlocked.Decrement(ref _count);
        Debug.Assert(count >= 0, "More nested runs ended than started.");
        return count == 0;
    }
}

/// <summary>The <see cref="IJobMark"/> of one run on one worker slot other than the run's first.</summary>
internal sealed class SlotMark(object pool, IJobSlot slot, object run, IJobMark? outer) : IJobMark
{
    private NestedRunCount _nested;

    public object OwnerPool { get; } = pool;

    public IJobMark? Outer { get; } = outer;

    public bool IsLive => slot.IsRunning(run);

    public bool EnterNested() => _nested.Enter();

    public bool ExitNested() => _nested.Exit();
}
