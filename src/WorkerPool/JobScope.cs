using System.Diagnostics;

namespace WorkerPool;

/// <summary>
/// The ExecutionContext a run's jobs execute in: the caller's, captured when the run starts (the default context if the
/// caller suppressed flow), marked with the pool the jobs belong to. The mark lets a call on a pool tell that it comes
/// from inside one of that pool's own jobs (<see cref="IsInsideJobOf"/>), so that the job can lend its place in the
/// bound to the nested run instead of holding it while it waits (see docs/design.md, "Nested runs").
/// </summary>
internal static class JobScope
{
    private static readonly AsyncLocal<object?> CurrentPool = new();

    /// <summary>The default context, with no AsyncLocal set: captured once, on a thread that started with nothing flowed to it.</summary>
    private static readonly ExecutionContext DefaultContext = CaptureDefault();

    /// <summary>Whether the calling code runs inside a job of <paramref name="pool"/>.</summary>
    internal static bool IsInsideJobOf(object pool) => ReferenceEquals(CurrentPool.Value, pool);

    /// <summary>
    /// Captures the calling code's context, for the jobs of a run on <paramref name="pool"/> that starts now, and marks it
    /// with that pool. A caller that suppressed flow gets the default context, marked.
    /// </summary>
    internal static ExecutionContext CaptureFor(object pool)
    {
        ExecutionContext? captured = ExecutionContext.Capture();
        if (captured is not null && ReferenceEquals(CurrentPool.Value, pool))
        {
            // A run started inside one of the pool's own jobs: its context is marked already.
            return captured;
        }

        var state = new MarkState(pool);
        ExecutionContext.Run(captured ?? DefaultContext, static state => ((MarkState)state!).Mark(), state);
        Debug.Assert(state.Marked is not null, "The marked context was captured.");
        return state.Marked!;
    }

    private static ExecutionContext CaptureDefault()
    {
        ExecutionContext? captured = null;

        // UnsafeStart flows nothing to the thread: what it captures is the default context.
        var thread = new Thread(() => captured = ExecutionContext.Capture()) { IsBackground = true, Name = "WorkerPool context capture" };
        thread.UnsafeStart();
        thread.Join();
        return captured!;
    }

    private sealed class MarkState(object pool)
    {
        internal ExecutionContext? Marked { get; private set; }

        /// <summary>Runs inside the captured context: sets the mark, and captures the result.</summary>
        internal void Mark()
        {
            CurrentPool.Value = pool;
            Marked = ExecutionContext.Capture();
        }
    }
}
