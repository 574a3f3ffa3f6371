using System.Diagnostics;

namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>
    /// A run whose jobs a producer task pulls from a source (<see cref="ProduceAsync(SourceRun, IEnumerable{TJob})"/>):
    /// RunAsync's and StreamAsync's. It adds what only such a run needs: the count of jobs pulled, the producer's credits
    /// and its reusable wait for room, the count of unsuccessful jobs, and the contexts of its jobs on every worker slot
    /// after the first. A <see cref="Submission"/> has one job and needs none of it.
    /// </summary>
    private abstract class SourceRun(BoundedWorkerPool<TJob, TResult> pool, CancellationToken callerToken) : Run(pool, callerToken)
    {
        private long _pulled;
        private long _unsuccessful;

        // Jobs the producer pulled but could not queue, because the run was cancelled or closed meanwhile. Taken once.
        private QueuedJob[]? _unqueued;

        // The contexts of the run's jobs on worker slots other than the first, by slot id, each with a SlotMark; grown
        // under the pool's _contextSync. Each slot reads and fills only its own.
        private ExecutionContext?[] _jobContexts = [];

        /// <summary>Jobs pulled from the source. Written only by the producer; read after the producer ended.</summary>
        internal override long Pulled => _pulled;

        internal override long Unsuccessful => Volatile.Read(ref _unsuccessful);

        internal override void CountUnsuccessful() => Interlocked.Increment(ref _unsuccessful);

        /// <summary>The producer's wait for room in the pool queue, made at its first wait and reused. Producer only.</summary>
        internal JobQueue<Run, QueuedJob>.Waiter? RoomWaiter { get; set; }

        /// <summary>Producer only: gives a job pulled from the source its index, and makes its outcome's slot exist.</summary>
        internal QueuedJob Pull(TJob job)
        {
            long index = _pulled;
            OnPulled(index);
            _pulled = index + 1;
            return new QueuedJob(job, index);
        }

        /// <summary>Producer only: called for each job pulled, before it can be claimed, with its index.</summary>
        protected virtual void OnPulled(long index)
        {
        }

        internal override void KeepUnqueued(ReadOnlySpan<QueuedJob> jobs)
        {
            Debug.Assert(Volatile.Read(ref _unqueued) is null, "A producer keeps unqueued jobs once.");
            Volatile.Write(ref _unqueued, jobs.ToArray());
        }

        protected override long TakeBackUnqueued(Action<JobResult<TJob, TResult>>? sink)
        {
            if (Interlocked.Exchange(ref _unqueued, null) is not { } unqueued)
            {
                return 0;
            }

            foreach (QueuedJob queued in unqueued)
            {
                sink?.Invoke(queued.NeverStarted());
            }

            return unqueued.Length;
        }

        /// <summary>
        /// Up to <paramref name="most"/> more jobs the producer may pull, at least one, waiting if the kind of run bounds
        /// them; 0 once the run is cancelled.
        /// </summary>
        internal virtual ValueTask<int> TakeCreditsAsync(int most) =>
            new(Token.IsCancellationRequested ? 0 : most);

        protected override ExecutionContext ContextForAnotherSlot(WorkerSlot slot)
        {
            ExecutionContext?[] contexts = Volatile.Read(ref _jobContexts);
            if (slot.Id < contexts.Length && contexts[slot.Id] is { } context)
            {
                return context;
            }

            context = JobScope.ContextFor(CallerContext, new SlotMark(Pool, slot, this, Outer));
            lock (Pool._contextSync)
            {
                contexts = _jobContexts;
                if (slot.Id >= contexts.Length)
                {
                    // Grown as slots are: the pool makes slots only for workers it starts.
                    // Stryker disable once Arithmetic : any size that holds the slot's entry works; doubling keeps the copies few
                    Array.Resize(ref contexts, Math.Max(slot.Id + 1, 2 * contexts.Length));
                }

                contexts[slot.Id] = context;
                // Stryker disable once Statement : the array is a cache: a context not kept is built again, the same
                Volatile.Write(ref _jobContexts, contexts);
            }

            return context;
        }
    }
}
