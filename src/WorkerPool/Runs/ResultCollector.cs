using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace WorkerPool;

/// <summary>
/// RunAsync's outcomes in input order. Workers write them straight into their slots, from any thread and without a
/// lock: the producer makes the slot of job <c>i</c> exist (<see cref="EnsureSlot"/>) before job <c>i</c> can be
/// claimed, each slot is written once, and slots never move. Storage is one array of the source's reported count
/// (at most <see cref="MaxPreallocation"/>), else chunks of <see cref="ChunkLength"/>; more chunks are added as the
/// source yields more jobs. The list is read only once every job of the run has stopped (a run with jobs stuck
/// past ShutdownTimeout throws instead of returning it), so no slot is written while it is read.
/// </summary>
internal sealed class ResultCollector<TJob, TResult>
{
    /// <summary>The most slots allocated up front from a source's reported count: a source may report far more than it yields.</summary>
    private const int MaxPreallocation = 1 << 20;

    /// <summary>Chunk length when the count is unknown: 2,048 outcomes of a small job type stay off the large object heap.</summary>
    private const int ChunkLength = 2048;

    private readonly int _chunkLength;

    // Grown by the producer only; read by workers after they claimed a job whose slot it holds.
    private JobResult<TJob, TResult>[][] _chunks;
    private long _made;

    internal ResultCollector(int expected)
    {
        _chunkLength = expected > 0 ? Math.Min(expected, MaxPreallocation) : ChunkLength;
        // Stryker disable once Conditional,Equality : allocating the first chunk up front or in EnsureSlot gives the same slots
        _chunks = expected > 0 ? [new JobResult<TJob, TResult>[_chunkLength]] : [];
        _made = _chunks.Length;
    }

    /// <summary>
    /// Producer only: makes the slot for <paramref name="index"/> exist. Call before the job can be claimed.
    /// </summary>
    /// <remarks>
    /// It also writes, once per span of <see cref="TouchStride"/> slots, the slot one span ahead (a default outcome, as
    /// the slot already holds; its job is not pulled yet), and the first slot of a new chunk: so every page of the
    /// outcomes is touched first by the producer, before the jobs of its slots are queued. Otherwise the first touch of
    /// a page (a page fault, microseconds in some virtual machines) falls on the workers, often on two of them at once,
    /// since they write neighbouring slots.
    /// </remarks>
    internal void EnsureSlot(long index)
    {
        long chunk = index / _chunkLength;
        if (chunk >= _made)
        {
            Debug.Assert(chunk == _made, "Slots are made in input order, one chunk at a time.");
            JobResult<TJob, TResult>[][] grown = _chunks;
            if (chunk == grown.Length)
            {
                Array.Resize(ref grown, Math.Max(4, grown.Length * 2));
            }

            // No worker reads this element before the job is enqueued, and the enqueue publishes it.
            grown[chunk] = new JobResult<TJob, TResult>[_chunkLength];
            _made++;
            Volatile.Write(ref _chunks, grown);
        }

        // Stryker disable once Arithmetic : the offset only decides which slots ahead are touched: see below
        int offset = (int)(index - (chunk * _chunkLength));
        // Stryker disable once Equality,Arithmetic,Logical,Boolean,Statement,Block : touching the pages sooner, later or never only changes who takes their page faults, and when
        if (TouchStride > 0 && offset % TouchStride == 0)
        {
            // Slots from this one on belong to jobs not queued yet: no worker writes them before these writes.
            JobResult<TJob, TResult>[] slots = _chunks[chunk];
            if (offset == 0)
            {
                slots[0] = default;
            }

            if (offset + TouchStride < slots.Length)
            {
                slots[offset + TouchStride] = default;
            }
        }
    }

    /// <summary>
    /// Slots per span the producer touches once: as many as fit in 4 KiB, the smallest page size. Zero, for no touching,
    /// when fewer than 4 fit: a worker then writes most of a page with one outcome anyway.
    /// </summary>
    // Stryker disable once Conditional,Equality : any stride only changes which pages the producer touches first
    private static readonly int TouchStride = SlotsPerPage() >= 4 ? SlotsPerPage() : 0;

    // Stryker disable once Arithmetic : any stride only changes which pages the producer touches first
    private static int SlotsPerPage() => 4096 / Unsafe.SizeOf<JobResult<TJob, TResult>>();

    /// <summary>Writes one job's outcome. Any thread; each slot once.</summary>
    internal void Add(JobResult<TJob, TResult> result)
    {
        JobResult<TJob, TResult>[] chunk = Volatile.Read(ref _chunks)[result.Index / _chunkLength];
        chunk[result.Index % _chunkLength] = result;
    }

    /// <summary>Returns the outcomes in input order. Call once every job of the run has stopped: then there is one per pulled job.</summary>
    internal IReadOnlyList<JobResult<TJob, TResult>> ToList(long pulled)
    {
        JobResult<TJob, TResult>[][] chunks = Volatile.Read(ref _chunks);
        AssertOneOutcomePerJob(chunks, pulled);
        if (pulled <= _chunkLength)
        {
            JobResult<TJob, TResult>[] first = pulled == 0 ? [] : chunks[0];
            if (pulled == first.Length)
            {
                return first;
            }

            return new ArraySegment<JobResult<TJob, TResult>>(first, 0, (int)pulled);
        }

        return new ChunkedList(chunks, _chunkLength, (int)pulled);
    }

    [Conditional("DEBUG")]
    private void AssertOneOutcomePerJob(JobResult<TJob, TResult>[][] chunks, long pulled)
    {
        // An empty slot holds a default outcome, whose index is 0: every other slot must hold its own job's outcome.
        for (long i = 1; i < pulled; i++)
        {
            Debug.Assert(chunks[i / _chunkLength][i % _chunkLength].Index == i, "A pulled job has no outcome.");
        }
    }

    /// <summary>A read-only view of the first <c>count</c> outcomes across chunks, without copying them.</summary>
    private sealed class ChunkedList(JobResult<TJob, TResult>[][] chunks, int chunkLength, int count) : IReadOnlyList<JobResult<TJob, TResult>>
    {
        public int Count => count;

        public JobResult<TJob, TResult> this[int index]
        {
            get
            {
                ArgumentOutOfRangeException.ThrowIfNegative(index);
                ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, count);
                return chunks[index / chunkLength][index % chunkLength];
            }
        }

        public IEnumerator<JobResult<TJob, TResult>> GetEnumerator()
        {
            for (int i = 0; i < count; i++)
            {
                yield return chunks[i / chunkLength][i % chunkLength];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
