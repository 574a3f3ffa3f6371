namespace WorkerPool;

/// <summary>
/// The asynchronous job sources that cancelled runs of one pool let go of while a <c>MoveNextAsync</c> of theirs was
/// still pending, each until that call returns. Each is reported at most once: by its watch when ShutdownTimeout has
/// passed, or by the pool's disposal if it is still silent then, whichever comes first. See docs/design.md, "Who owns each
/// task, and what ends it".
/// </summary>
/// <remarks>Thread-safe. Its lock guards the set only, and no other lock is taken while it is held.</remarks>
internal sealed class AbandonedSources
{
    private readonly HashSet<Entry> _entries = [];

    /// <summary>Adds the source of run <paramref name="runId"/>, whose pending call is <paramref name="pending"/>.</summary>
    internal Entry Add(long runId, Task pending)
    {
        var entry = new Entry(runId, pending);
        lock (_entries)
        {
            _entries.Add(entry);
        }

        return entry;
    }

    /// <summary>Removes a source whose pending call has returned.</summary>
    internal void Remove(Entry entry)
    {
        lock (_entries)
        {
            _entries.Remove(entry);
        }
    }

    /// <summary>The sources whose pending call had not returned when last looked at, in no particular order.</summary>
    internal Entry[] Snapshot()
    {
        lock (_entries)
        {
            return [.. _entries];
        }
    }

    /// <summary>One abandoned source: its run, its pending call, and whether it has been reported.</summary>
    internal sealed class Entry(long runId, Task pending)
    {
        private int _reported;

        /// <summary>Gets the id of the run that let go of the source.</summary>
        internal long RunId => runId;

        /// <summary>Gets the call the source has not answered yet; it never faults when awaited with SuppressThrowing.</summary>
        internal Task Pending => pending;

        /// <summary>Gets a value indicating whether the source has been reported.</summary>
        internal bool Reported => Volatile.Read(ref _reported) != 0;

        /// <summary>Takes the one report of this source: <see langword="true"/> for the first caller only.</summary>
        internal bool TryTakeReport() => Interlocked.Exchange(ref _reported, 1) == 0;
    }
}
