using System.Diagnostics;
using Microsoft.Extensions.Logging;
using System.Runtime.CompilerServices;

namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>
    /// What every run of the pool has, whatever hands its outcomes to its caller: its token and ExecutionContext, the
    /// claim protocol between workers (<see cref="TryEnter"/>/<see cref="Exit"/>) and its finish
    /// (<see cref="CloseAndDrainAsync"/>), the count of outcomes published against jobs pulled, and its end. See
    /// docs/design.md. <see cref="CollectingRun"/> (RunAsync), <see cref="StreamingRun"/> (StreamAsync) and
    /// <see cref="Submission"/> (SubmitAsync) add where outcomes go.
    /// </summary>
    /// <remarks>
    /// A run is its own token source, and the mark of the first worker slot that runs one of its jobs
    /// (<see cref="IJobMark"/>): a call allocates neither apart. Registrations on its caller's token (inline, as a linked
    /// source would) and on the pool's own token (on the thread pool) cancel it (<see cref="Link"/>); its release removes
    /// them (<see cref="Release"/>).
    /// </remarks>
    private abstract class Run : CancellationTokenSource, IJobMark, IJobQueueOwner
    {
        private readonly BoundedWorkerPool<TJob, TResult> _pool;
        private readonly CancellationToken _callerToken;

        // The registrations that cancel the run when its caller's token or the pool's disposal token is cancelled.
        private CancellationTokenRegistration _callerLink;
        private CancellationTokenRegistration _disposalLink;
        private NestedRunCount _nested;

        // The thread that links the run to its caller's token, while it does (see CancelFromLink); 0 otherwise. Another
        // thread may read a stale value, never its own id.
        private int _linkingThread;

        // The claim protocol, and whether the run is stopping: NotStopping, or who stopped it first.
        private ClaimGate _claims;
        private int _stopping;
        private const int NotStopping = 0;
        private const int StoppedByRun = 1;  // RequestStop, or the pool's token: the token is cancelled on the thread pool
        private const int StoppedByLink = 2; // the caller's link: it cancels the token itself, inline

        // Outcomes published by workers, and the number of jobs pulled once the source is exhausted (until then,
        // long.MaxValue): when they are equal, every outcome is written.
        private long _published;
        private long _expected = long.MaxValue;

        // The run's jobs taken out of the queue when it closed: they never start. Read once the run has drained.
        private List<QueuedJob>? _removed;

        private Exception? _failure;

        protected Run(BoundedWorkerPool<TJob, TResult> pool, CancellationToken callerToken)
        {
            _pool = pool;
            Id = pool.NextRunId();
            _callerContext = ExecutionContext.Capture();
            _outerMark = JobScope.Current;
            _callerToken = callerToken;

            // Kept: read as every job starts, and reported after the run ended.
            Token = base.Token;
            StartTimestamp = Log.IsEnabled(pool._logger, LogLevel.Debug) ? pool._options.TimeProvider.GetTimestamp() : NotTimed;
        }

        /// <summary>The token the caller passed.</summary>
        protected CancellationToken CallerToken => _callerToken;

        /// <summary>
        /// Cancels the run: the callback of its link to its caller's token, or to a stream's enumerator token
        /// (<see cref="CancelFromLink"/>).
        /// </summary>
        protected static readonly Action<object?> CancelRun = static state => ((Run)state!).CancelFromLink();

        /// <summary>
        /// A link's callback: the run stops, its end is told (<see cref="OnStopRequested"/>), and only then is its token
        /// cancelled, inline, as a linked source's would be: the jobs' own callbacks run on the thread that cancelled,
        /// and one that throws reaches it. So a job's callback that blocks holds that thread, as it would through a linked
        /// source, but not the run's end, which no longer waits on the token's callbacks.
        /// </summary>
        private void CancelFromLink()
        {
            Volatile.Write(ref _stopping, StoppedByLink);
            OnStopRequested(fromOutside: true);

            // A caller's token cancelled before the link was made runs this inside the registration, on the thread of the
            // call that links: cancelled there, a job's callback that throws would escape the call, and one that blocks
            // would hold it. The token was cancelled before, by somebody else, so nobody waits for this to end.
            if (_linkingThread == Environment.CurrentManagedThreadId)
            {
                CancelInBackground(this);
                return;
            }

            Cancel();
        }

        /// <summary>
        /// Called as the run starts to stop, before its token is cancelled, by every way of stopping it, possibly more than
        /// once: wakes what waits for the run's end. A job's callback on the token, which may block, runs only after
        /// this. <paramref name="fromOutside"/> tells a cancellation by the caller's token, the enumerator's or the pool's
        /// own token (its disposal, or a drain's token) from the run's own stop (its failure, or its finish).
        /// </summary>
        protected abstract void OnStopRequested(bool fromOutside);

        /// <summary>
        /// Links the run to its caller's token (<see cref="CancelRun"/>) and to the pool's own token, which its disposal
        /// and a drain's token cancel (<see cref="StopForPool"/>). Call once. A token already cancelled stops the run at once.
        /// </summary>
        protected void Link()
        {
            if (_callerToken.CanBeCanceled)
            {
                _linkingThread = Environment.CurrentManagedThreadId;
                _callerLink = _callerToken.UnsafeRegister(CancelRun, this);
                _linkingThread = 0;
            }

            _disposalLink = _pool._disposeCts.Token.UnsafeRegister(StopForPool, this);
        }

        /// <summary>
        /// The pool's token cancelled: the run stops as by a link (<see cref="OnStopRequested"/>), but its token is cancelled
        /// on the thread pool, apart from every other run's. The pool's token reaches all its runs through one chain of
        /// callbacks: cancelled inline there, a job's callback that blocks would hold every other caller's run.
        /// </summary>
        private static readonly Action<object?> StopForPool = static state =>
        {
            var run = (Run)state!;
            Interlocked.CompareExchange(ref run._stopping, StoppedByRun, NotStopping);
            run.OnStopRequested(fromOutside: true);
            CancelInBackground(run);
        };

        /// <summary>
        /// Removes the links, without waiting for a callback that is running: one that runs late stops a run that has
        /// already ended, which changes nothing, and cancels a source that is never disposed (see <see cref="Release"/>).
        /// </summary>
        internal virtual void Unlink()
        {
            _callerLink.Unregister();
            _disposalLink.Unregister();
        }

        /// <summary>The pool the run belongs to.</summary>
        protected BoundedWorkerPool<TJob, TResult> Pool => _pool;

        // The caller's context, captured when the run started (null if the caller suppressed flow), and the mark of the
        // job it was started from, if any.
        private readonly ExecutionContext? _callerContext;
        private readonly IJobMark? _outerMark;

        // The context the run's jobs execute in on the first worker slot that runs one: the caller's, marked with the
        // run itself. It is all a one-job run needs; a run with more jobs keeps the other slots' contexts
        // (SourceRun.ContextForAnotherSlot). Only that slot's worker reads _firstContext.
        private WorkerSlot? _firstSlot;
        private ExecutionContext? _firstContext;

        /// <summary>
        /// The ExecutionContext a job of the run executes in on <paramref name="slot"/>: its caller's, captured when the run
        /// started, marked with the run and the slot (<see cref="JobScope"/>). Built the first time the slot runs a job of
        /// the run. Called by the slot's worker only.
        /// </summary>
        internal ExecutionContext JobContextFor(WorkerSlot slot)
        {
            // Only this slot's worker wrote the first context for this slot, earlier (a slot passes from one worker to the
            // next under the scheduler's lock).
            if (ReferenceEquals(Volatile.Read(ref _firstSlot), slot))
            {
                return _firstContext!;
            }

            // The first slot to get here claims the field, and the run is its mark.
            if (Volatile.Read(ref _firstSlot) is null && Interlocked.CompareExchange(ref _firstSlot, slot, null) is null)
            {
                _firstContext = JobScope.ContextFor(_callerContext, this);
                return _firstContext;
            }

            return ContextForAnotherSlot(slot);
        }

        /// <summary>
        /// The context of the run's jobs on a worker slot other than its first: the caller's, marked with a
        /// <see cref="SlotMark"/>. Called by the slot's worker only.
        /// </summary>
        protected abstract ExecutionContext ContextForAnotherSlot(WorkerSlot slot);

        /// <summary>The caller's context, captured when the run started; null if the caller suppressed flow.</summary>
        protected ExecutionContext? CallerContext => _callerContext;

        /// <inheritdoc/>
        public object OwnerPool => _pool;

        /// <inheritdoc/>
        public IJobMark? Outer => _outerMark;

        /// <summary>As the mark of its first slot: whether that slot executes a job of the run now.</summary>
        public bool IsLive => Volatile.Read(ref _firstSlot) is { } slot && slot.IsRunning(this);

        /// <inheritdoc/>
        public bool EnterNested() => _nested.Enter();

        /// <inheritdoc/>
        public bool ExitNested() => _nested.Exit();

        /// <summary>The run's id, unique within its pool: in log scopes, and in descriptions of its jobs.</summary>
        internal long Id { get; }

        /// <summary>The job of this pool that started this run and lent its place to it, if the run is nested.</summary>
        internal IJobMark? LentBy { get; set; }

        /// <summary>
        /// The token every await of the run observes: the run's own, cancelled by its links, by its failure or by its
        /// finish.
        /// </summary>
        internal new CancellationToken Token { get; }

        /// <summary>Jobs of the run that failed or timed out so far.</summary>
        internal abstract long Unsuccessful { get; }

        /// <summary>Counts a job that failed or timed out (for the run's end in the log).</summary>
        internal abstract void CountUnsuccessful();

        /// <summary>Outcomes published by workers so far.</summary>
        internal long Published => Volatile.Read(ref _published);

        /// <summary>Jobs pulled from the source: read once the producer has ended, or once it said the source is exhausted.</summary>
        internal abstract long Pulled { get; }

        /// <summary>The producer task; the run's finish and the pool's disposal await it. It never faults.</summary>
        internal Task Producer { get; set; } = Task.CompletedTask;

        /// <summary>Called once the run has left the pool.</summary>
        internal virtual void MarkEnded()
        {
        }

        /// <summary>
        /// Completes once the run's internal loops have ended: its producer, and whatever else the kind of run adds. A
        /// StreamAsync consumer is the caller's code and is not waited for.
        /// </summary>
        internal virtual Task WhenLoopsEndedAsync() => Producer;

        /// <summary>
        /// When the run started, as a timestamp of the pool's <see cref="WorkerPoolOptions.TimeProvider"/>, for its end in
        /// the log; <see cref="NotTimed"/> if the log did not record runs when it started.
        /// </summary>
        internal long StartTimestamp { get; }

        /// <summary>The <see cref="StartTimestamp"/> of a run whose start was not timed: a value no clock reads in practice.</summary>
        internal const long NotTimed = long.MinValue;

        /// <summary>The root cause that stopped the run: a job's failure in StopOnFirstError, or the source's exception.</summary>
        internal Exception? Failure => Volatile.Read(ref _failure);

        /// <summary>The token to report in a cancellation exception: the caller's, if it was the one cancelled.</summary>
        internal CancellationToken CanceledToken =>
            _callerToken.IsCancellationRequested ? _callerToken
            : EnumeratorToken.IsCancellationRequested ? EnumeratorToken
            : Token;

        /// <summary>A stream's enumerator token, which cancels the run as its caller's token does; none for other runs.</summary>
        protected virtual CancellationToken EnumeratorToken => default;

        /// <summary>
        /// Whether the run is ending: set synchronously by <see cref="RequestStop"/> or by a link, before its token is
        /// cancelled, or by cancellation of its token or of a token it is linked to.
        /// No job starts once this is true, and a stream yields nothing more.
        /// </summary>
        internal bool IsStopping => Volatile.Read(ref _stopping) != NotStopping || IsCanceled;

        internal bool CanceledByCaller => _callerToken.IsCancellationRequested || EnumeratorToken.IsCancellationRequested;

        /// <summary>
        /// Whether the run is cancelled: its token, or already one of the tokens it is linked to. A linked token is
        /// cancelled a moment after the token it follows, so a job or source that saw the caller's token cancelled
        /// is judged by that token, not by the run's.
        /// </summary>
        internal bool IsCanceled =>
            Token.IsCancellationRequested || CanceledByCaller || _pool._disposeCts.IsCancellationRequested;

        /// <summary>
        /// Worker side of the claim protocol, called by the pool queue under its lock: announce a worker inside the run,
        /// then check that the run still accepts workers. Returns <see langword="false"/> for a closed run; the queue then
        /// sets the run's jobs aside for its finish, and calls <see cref="Exit"/> once its lock is released.
        /// </summary>
        public bool TryEnter() => _claims.TryEnter();

        /// <summary>Whether the run's finish has closed it: no worker enters it any more.</summary>
        public bool IsClosed => _claims.IsClosed;

        /// <summary>Worker side: leave the run, after publishing the outcomes of the jobs taken, or after a refused entry.</summary>
        public void Exit() => _claims.Exit();

        /// <summary>
        /// Finish side of the claim protocol: stop new claims and return a task that completes once no worker is
        /// inside the run. Call once.
        /// </summary>
        internal Task CloseAndDrainAsync(bool completed)
        {
            Task drained = _claims.CloseAndDrainAsync();

            // The closed run's queued jobs will never start: they give their room back now, not once its running jobs
            // have stopped. The queue takes no job of a closed run, so none can follow. A completed run has none left
            // (every pulled job's outcome is written), and skips the queue's lock.
            if (!completed)
            {
                Volatile.Write(ref _removed, _pool._queue.RemoveAll(this));
            }

            return drained;
        }

        /// <summary>
        /// Producer only, once: keeps pulled jobs that will never be queued, because the run was cancelled or the source
        /// threw meanwhile. The run's finish records them as never started.
        /// </summary>
        internal abstract void KeepUnqueued(ReadOnlySpan<QueuedJob> jobs);

        /// <summary>Takes back the jobs <see cref="KeepUnqueued"/> kept, once, and hands each to <paramref name="sink"/>.</summary>
        protected abstract long TakeBackUnqueued(Action<JobResult<TJob, TResult>>? sink);

        /// <summary>
        /// Hands a taken job's outcome to the run's caller. Never blocks, never throws. The worker then counts it
        /// (<see cref="AddPublished"/>) before it leaves the run.
        /// </summary>
        internal abstract void Publish(in JobResult<TJob, TResult> result);

        /// <summary>Called by the producer once the source is exhausted, after its last job was queued.</summary>
        internal void SourceExhausted()
        {
            long pulled = Pulled;
            Interlocked.Exchange(ref _expected, pulled);

            // Pairs with AddPublished: each writes its own count with a full fence, then reads the other's.
            if (Volatile.Read(ref _published) == pulled)
            {
                MarkAllWritten();
            }
        }

        /// <summary>
        /// Counts <paramref name="count"/> more published outcomes, and tells the run when they were the last jobs of an
        /// exhausted source.
        /// </summary>
        internal void AddPublished(long count)
        {
            if (count > 0 && Interlocked.Add(ref _published, count) == Volatile.Read(ref _expected))
            {
                MarkAllWritten();
            }
        }

        /// <summary>Called once, when every pulled job's outcome is published and the source is exhausted.</summary>
        protected abstract void MarkAllWritten();

        /// <summary>
        /// Records the root cause of the run's end and cancels the run. Only the first call has effect.
        /// Returns <see langword="true"/> for that first call.
        /// </summary>
        internal bool TryFail(Exception exception)
        {
            // Cancellation has priority over a failure that follows it: a job that fails because its caller went away
            // is one of the cancelled run's outcomes, not the run's error.
            if (CanceledByCaller || _pool._disposeCts.IsCancellationRequested)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _failure, exception, null) is not null)
            {
                return false;
            }

            RequestStop();
            return true;
        }

        /// <summary>
        /// Stops the run: <see cref="IsStopping"/> turns true at once, what waits for the run's end is woken, and the
        /// token is cancelled with its callbacks running on the thread pool, unless a link is cancelling it already.
        /// </summary>
        internal void RequestStop()
        {
            int before = Interlocked.CompareExchange(ref _stopping, StoppedByRun, NotStopping);
            OnStopRequested(fromOutside: false);
            if (before != StoppedByLink)
            {
                CancelInBackground(this);
            }
        }

        /// <summary>
        /// Ends the run: cancels it unless it completed, closes it to new claims, and waits for its workers and its
        /// producer, at most ShutdownTimeout on the options' clock. Returns <see langword="null"/> if all of them stopped;
        /// otherwise the task of their stopping, for <see cref="EndAfterStuckWorkReturns"/>, and what held them.
        /// </summary>
        internal async Task<StuckWork?> FinishAsync(bool completed)
        {
            if (!completed)
            {
                RequestStop();
            }

            Task drained = CloseAndDrainAsync(completed);
            Task producer = Producer;
            TimeSpan timeout = _pool._options.ShutdownTimeout;
            if (timeout == Timeout.InfiniteTimeSpan)
            {
                await drained.ConfigureAwait(false);
                await producer.ConfigureAwait(false);
                return null;
            }

            Task both = Task.WhenAll(drained, producer);
            Task waited = both.WaitAsync(timeout, _pool._options.TimeProvider);
            await waited.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _ = waited.Exception;

            // Its parts, not the task of both, which completes a thread-pool hop after the last of them.
            if ((drained.IsCompleted && producer.IsCompleted)
                || await _pool.StuckWorkAsync(both, [drained, producer], this, runs: null).ConfigureAwait(false) is not { } report)
            {
                return null;
            }

            // The run's resources are still in use and some of its jobs may not be counted yet: the pool is not at rest
            // until EndAfterTimeout, which EndAfterStuckWorkReturns arranges once the run's end has counted what it holds.
            _pool.HoldRest(this);
            return new StuckWork(both, report);
        }

        /// <summary>
        /// After <see cref="FinishAsync"/> timed out and the run's end counted the jobs it took back: once its stuck jobs and
        /// its producer return (<paramref name="stuckWork"/>), <see cref="EndAfterTimeout"/> counts what they left and lets
        /// the pool come to rest. Arranged only now, so that the pool cannot come to rest between the end taking jobs back
        /// and counting them.
        /// </summary>
        internal void EndAfterStuckWorkReturns(Task stuckWork)
        {
            _ = stuckWork.ContinueWith(
                static (_, state) => ((Run)state!).EndAfterTimeout(),
                this,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        /// <summary>
        /// After <see cref="FinishAsync"/>: hands every outcome not yet consumed to <paramref name="sink"/>, first the
        /// published ones, then every job that never started as <see cref="JobStatus.Canceled"/>. Returns the number of
        /// never-started jobs.
        /// </summary>
        internal virtual long DrainOutcomes(Action<JobResult<TJob, TResult>>? sink) => TakeBackNeverStarted(sink);

        /// <summary>
        /// Takes the run's jobs that never started out of the pool queue, and the one its producer could not queue, and
        /// hands each to <paramref name="sink"/> as <see cref="JobStatus.Canceled"/>. Call once the run is closed. Jobs in
        /// the hands of a worker still inside the run (one stuck past ShutdownTimeout) are not here: that worker counts
        /// them itself once its job returns.
        /// </summary>
        private long TakeBackNeverStarted(Action<JobResult<TJob, TResult>>? sink)
        {
            long neverStarted = 0;

            if (Interlocked.Exchange(ref _removed, null) is { } left)
            {
                foreach (QueuedJob queued in left)
                {
                    neverStarted++;
                    sink?.Invoke(queued.NeverStarted());
                }
            }

            return neverStarted + TakeBackUnqueued(sink);
        }

        /// <summary>
        /// A run whose finish timed out, once its stuck jobs and its producer have returned: counts the job a producer that
        /// was stuck may have pulled since (nobody reads outcomes any more: the run has thrown), releases it, and lets
        /// the pool come to rest.
        /// </summary>
        private void EndAfterTimeout()
        {
            try
            {
                long neverStarted = TakeBackNeverStarted(sink: null);
                // Stryker disable once Equality : counting zero never-started jobs adds nothing
                if (neverStarted > 0)
                {
                    _pool.CountNeverStarted(neverStarted);
                }

                // Stryker disable once Statement : removes the links of a run that has thrown; not observable through the public API
                Release();
            }
            finally
            {
                _pool.ReleaseRest(this);
            }
        }

        /// <summary>
        /// Releases the ended run: removes its links, so that the caller's and the pool's long-lived tokens do not keep it.
        /// Its token source is never disposed: it has no timer, a cancellation may still be running its callbacks (a
        /// job's, which may block), and work a job left behind may still use its token, even its wait handle.
        /// </summary>
        internal void Release() => Unlink();
    }
}
