using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>A job pulled from the source and waiting to be claimed, with its position in the input.</summary>
    private readonly record struct QueuedJob(TJob Job, long Index)
    {
        /// <summary>The outcome of this job when it ends without ever starting: cancelled, with no error.</summary>
        public JobResult<TJob, TResult> NeverStarted() => new(Index, Job, JobStatus.Canceled, default, null, TimeSpan.Zero);
    }

    /// <summary>
    /// The state of one RunAsync or StreamAsync call. See docs/design.md for the claim
    /// protocol between workers (<see cref="TryEnter"/>/<see cref="Exit"/>) and the run's finish (<see cref="CloseAndDrainAsync"/>).
    /// </summary>
    private sealed class Run : IJobQueueOwner
    {
        private readonly BoundedWorkerPool<TJob, TResult> _pool;
        private readonly CancellationToken _callerToken;
        private readonly CancellationToken _enumeratorToken;

        // Claim protocol state.
        private int _running;
        private int _closed;
        private int _stopping;
        private TaskCompletionSource? _drained;

        // Outcomes published by workers, and the number of jobs pulled once the source is exhausted (until then,
        // long.MaxValue): when they are equal, every outcome is written.
        private long _published;
        private long _expected = long.MaxValue;

        // The run's jobs taken out of the queue when it closed: they never start. Read once the run has drained.
        private List<QueuedJob>? _removed;

        // A job the producer pulled but could not queue, because the run was cancelled or closed meanwhile. Taken once.
        private StrongBox<QueuedJob>? _unqueued;
        private Exception? _failure;
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Task? _consumer;
        private Task? _cancellation;

        internal Run(BoundedWorkerPool<TJob, TResult> pool, ResultCollector<TJob, TResult>? collector, CancellationToken callerToken, CancellationToken enumeratorToken)
        {
            _pool = pool;
            Id = pool.NextRunId();
            _callerContext = ExecutionContext.Capture();
            _outerMark = JobScope.Current;
            _callerToken = callerToken;
            _enumeratorToken = enumeratorToken;
            Collector = collector;
            CancellationToken disposal = pool._disposeCts.Token;
            Cts = (callerToken.CanBeCanceled, enumeratorToken.CanBeCanceled) switch
            {
                (false, false) => CancellationTokenSource.CreateLinkedTokenSource(disposal),
                (true, false) => CancellationTokenSource.CreateLinkedTokenSource(callerToken, disposal),
                (false, true) => CancellationTokenSource.CreateLinkedTokenSource(enumeratorToken, disposal),
                (true, true) => CancellationTokenSource.CreateLinkedTokenSource(callerToken, enumeratorToken, disposal),
            };
            Token = Cts.Token;
            if (collector is not null)
            {
                _allWritten = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            else
            {
                // Stryker disable once Initializer,Boolean : channel tuning hints; any valid setting gives the same results
                Results = Channel.CreateUnbounded<JobResult<TJob, TResult>>(new UnboundedChannelOptions
                {
                    SingleReader = true,
                    SingleWriter = false,
                    AllowSynchronousContinuations = false,
                });

                // QueueCapacity + MaxWorkers may not fit in an int; beyond int.MaxValue the window is unbounded anyway.
                int windowSize = (int)Math.Min((long)pool._options.QueueCapacity + pool._options.MaxWorkers, int.MaxValue);
                Window = new CreditWindow(windowSize);
                // Stryker disable once Arithmetic : any batch from 1 to the window keeps the bound; the size is throughput only
                CreditBatch = Math.Clamp(windowSize / 4, 1, MaxCreditBatch);

                // The producer's and the consumer's waits take no token: this one registration ends both. It lives
                // as long as Cts, whose disposal removes it.
                Token.UnsafeRegister(static state => ((Run)state!).OnCanceled(), this);
            }

            StartTimestamp = pool._options.TimeProvider.GetTimestamp();
        }

        // The caller's context, captured when the run started (null if the caller suppressed flow), and the mark of the
        // job it was started from, if any.
        private readonly ExecutionContext? _callerContext;
        private readonly JobMark? _outerMark;

        // The context the run's jobs execute in, one per worker slot that has run one: the caller's, marked with the
        // run and the slot. Grown under _contextSync; each slot reads and fills only its own element.
        private ExecutionContext?[] _jobContexts = [];
        private readonly object _contextSync = new();

        /// <summary>
        /// The ExecutionContext a job of the run executes in on <paramref name="slot"/>: its caller's, captured when the run
        /// started, marked with the run and the slot (<see cref="JobScope"/>). Built the first time the slot runs a job of
        /// the run. Called by the slot's worker only.
        /// </summary>
        internal ExecutionContext JobContextFor(WorkerSlot slot)
        {
            ExecutionContext?[] contexts = Volatile.Read(ref _jobContexts);
            if (slot.Id < contexts.Length && contexts[slot.Id] is { } context)
            {
                return context;
            }

            context = JobScope.ContextFor(_callerContext, new JobMark(_pool, slot, this, _outerMark));
            lock (_contextSync)
            {
                contexts = _jobContexts;
                if (slot.Id >= contexts.Length)
                {
                    Array.Resize(ref contexts, Math.Max(slot.Id + 1, _pool._options.MaxWorkers));
                }

                contexts[slot.Id] = context;
                Volatile.Write(ref _jobContexts, contexts);
            }

            return context;
        }

        /// <summary>The run's id, unique within its pool: in log scopes, and in descriptions of its jobs.</summary>
        internal long Id { get; }

        /// <summary>The job of this pool that started this run and lent its place to it, if the run is nested.</summary>
        internal JobMark? LentBy { get; set; }

        /// <summary>Linked to the caller's token(s) and the pool's disposal; cancelled by the run on failure.</summary>
        internal CancellationTokenSource Cts { get; }

        /// <summary>The token every await of the run observes.</summary>
        internal CancellationToken Token { get; }

        /// <summary>
        /// StreamAsync only: outcomes of taken jobs, in completion order. Unbounded: a worker never waits to hand off.
        /// It completes once the source is exhausted and every pulled job's outcome is written.
        /// </summary>
        internal Channel<JobResult<TJob, TResult>>? Results { get; }

        /// <summary>
        /// RunAsync only: completes (never faults) once the source is exhausted and every pulled job's outcome is written
        /// to the <see cref="Collector"/>.
        /// </summary>
        internal Task AllWritten => _allWritten!.Task;

        private readonly TaskCompletionSource? _allWritten;

        /// <summary>RunAsync only: where workers write outcomes, in input order.</summary>
        internal ResultCollector<TJob, TResult>? Collector { get; }

        /// <summary>StreamAsync only: credits that bound jobs pulled but not yet yielded to the consumer.</summary>
        internal CreditWindow? Window { get; }

        /// <summary>
        /// StreamAsync only: how many credits the consumer gives back at once. Fewer, larger releases wake the producer
        /// less often; a quarter of the window keeps the producer ahead, and the consumer gives back everything it holds
        /// before it waits for an outcome, so held credits never stall the run.
        /// </summary>
        internal int CreditBatch { get; }

        private const int MaxCreditBatch = 32;

        /// <summary>The producer's wait for room in the pool queue, made at its first wait and reused. Producer only.</summary>
        internal JobQueue<Run, QueuedJob>.Waiter? RoomWaiter { get; set; }

        private long _unsuccessful;

        /// <summary>Jobs of the run that failed or timed out so far.</summary>
        internal long Unsuccessful => Volatile.Read(ref _unsuccessful);

        /// <summary>Counts a job that failed or timed out (for the run's end in the log).</summary>
        internal void CountUnsuccessful() => Interlocked.Increment(ref _unsuccessful);

        /// <summary>Outcomes published by workers so far.</summary>
        internal long Published => Volatile.Read(ref _published);

        /// <summary>Whether the stream's consumer disposed its enumerator before the run ended.</summary>
        internal bool AbandonedByConsumer { get; set; }

        /// <summary>Jobs pulled from the source. Written only by the producer; read after the producer ended.</summary>
        internal long Pulled { get; set; }

        /// <summary>The producer task; the run's finish and the pool's disposal await it. It never faults.</summary>
        internal Task Producer { get; set; } = Task.CompletedTask;

        /// <summary>Records RunAsync's collector task, an internal loop that disposal waits for, and returns it.</summary>
        internal Task<T> SetConsumer<T>(Task<T> consumer)
        {
            Volatile.Write(ref _consumer, consumer);
            return consumer;
        }

        /// <summary>Called once the run has left the pool.</summary>
        internal void MarkEnded() => _ended.TrySetResult();

        /// <summary>
        /// Completes once the run's internal loops have ended: its producer, and for RunAsync its collector. A StreamAsync
        /// consumer is the caller's code and is not waited for.
        /// </summary>
        internal async Task WhenLoopsEndedAsync()
        {
            await Producer.ConfigureAwait(false);
            if (Collector is null)
            {
                return;
            }

            await _ended.Task.ConfigureAwait(false);

            // Set before the collector's first await returned to RunAsync; once the run has ended, it is set or the
            // collector completed synchronously and RunAsync is about to return its finished task.
            if (Volatile.Read(ref _consumer) is { } consumer)
            {
                await consumer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        /// <summary>When the run started, as a timestamp of the pool's <see cref="WorkerPoolOptions.TimeProvider"/>.</summary>
        internal long StartTimestamp { get; }

        /// <summary>The root cause that stopped the run: a job's failure in StopOnFirstError, or the source's exception.</summary>
        internal Exception? Failure => Volatile.Read(ref _failure);

        /// <summary>The token to report in a cancellation exception: the caller's, if it was the one cancelled.</summary>
        internal CancellationToken CanceledToken =>
            _callerToken.IsCancellationRequested ? _callerToken
            : _enumeratorToken.IsCancellationRequested ? _enumeratorToken
            : Token;

        /// <summary>
        /// Whether the run is ending: set synchronously by <see cref="RequestStop"/>, or by cancellation of its token.
        /// No job starts once this is true, and a stream yields nothing more.
        /// </summary>
        internal bool IsStopping => Volatile.Read(ref _stopping) != 0 || IsCancellationRequested;

        internal bool CanceledByCaller => _callerToken.IsCancellationRequested || _enumeratorToken.IsCancellationRequested;

        /// <summary>
        /// Whether the run is cancelled: its token, or already one of the tokens it is linked to. A linked token is
        /// cancelled a moment after the token it follows, so a job or source that saw the caller's token cancelled
        /// is judged by that token, not by the run's.
        /// </summary>
        internal bool IsCancellationRequested =>
            Token.IsCancellationRequested || CanceledByCaller || _pool._disposeCts.IsCancellationRequested;

        /// <summary>
        /// Worker side of the claim protocol, called by the pool queue under its lock: announce a worker inside the run,
        /// then check that the run still accepts workers. Returns <see langword="false"/> for a closed run; the queue then
        /// sets the run's jobs aside for its finish, and calls <see cref="Exit"/> once its lock is released.
        /// </summary>
        public bool TryEnter()
        {
            Interlocked.Increment(ref _running);
            return Volatile.Read(ref _closed) == 0;
        }

        /// <summary>Whether the run's finish has closed it: no worker enters it any more.</summary>
        public bool IsClosed => Volatile.Read(ref _closed) != 0;

        /// <summary>Worker side: leave the run, after publishing the outcomes of the jobs taken, or after a refused entry.</summary>
        public void Exit()
        {
            int running = Interlocked.Decrement(ref _running);
            Debug.Assert(running >= 0, "More workers left the run than entered it.");
            if (running == 0 && Volatile.Read(ref _closed) != 0)
            {
                Volatile.Read(ref _drained)!.TrySetResult();
            }
        }

        /// <summary>
        /// Finish side of the claim protocol: stop new claims and return a task that completes once no worker is
        /// inside the run. Call once.
        /// </summary>
        internal Task CloseAndDrainAsync(bool completed)
        {
            var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _drained, drained);
            int wasClosed = Interlocked.Exchange(ref _closed, 1);
            Debug.Assert(wasClosed == 0, "A run was closed twice.");

            // The closed run's queued jobs will never start: they give their room back now, not once its running jobs
            // have stopped. The queue takes no job of a closed run, so none can follow. A completed run has none left
            // (every pulled job's outcome is written), and skips the queue's lock.
            if (!completed)
            {
                Volatile.Write(ref _removed, _pool._queue.RemoveAll(this));
            }

            if (Volatile.Read(ref _running) == 0)
            {
                drained.TrySetResult();
            }

            return drained.Task;
        }

        /// <summary>
        /// Producer only: keeps a pulled job that could not be queued because the run was cancelled meanwhile. The run's
        /// finish records it as never started.
        /// </summary>
        internal void KeepUnqueued(QueuedJob queued) => Volatile.Write(ref _unqueued, new StrongBox<QueuedJob>(queued));

        /// <summary>
        /// Hands a taken job's outcome to the consumer. Never blocks. The worker then counts it
        /// (<see cref="AddPublished"/>) before it leaves the run.
        /// </summary>
        internal void Publish(in JobResult<TJob, TResult> result)
        {
            if (Collector is { } collector)
            {
                collector.Add(result);
            }
            else
            {
                // TryWrite fails only once the run's finish completed the channel: the run has ended, nobody reads.
                Results!.Writer.TryWrite(result);
            }
        }

        /// <summary>
        /// StreamAsync, once the run is cancelled: closes the window, which ends the producer's wait for a credit, and
        /// wakes a consumer waiting for an outcome by writing a marker that is not an outcome (index -1). The consumer
        /// never takes it for an outcome, since it stops reading once the run is stopping, and <see cref="DrainOutcomes"/>
        /// skips it.
        /// </summary>
        private void OnCanceled()
        {
            Window!.Close();
            Results!.Writer.TryWrite(new JobResult<TJob, TResult>(-1, default!, JobStatus.Canceled, default, null, TimeSpan.Zero));
        }

        internal static bool IsWakeMarker(in JobResult<TJob, TResult> result) => result.Index < 0;

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
        /// Counts <paramref name="count"/> more published outcomes. Completes <see cref="Results"/> when they were the
        /// last jobs of an exhausted source.
        /// </summary>
        internal void AddPublished(long count)
        {
            if (count > 0 && Interlocked.Add(ref _published, count) == Volatile.Read(ref _expected))
            {
                MarkAllWritten();
            }
        }

        private void MarkAllWritten()
        {
            if (Results is { } results)
            {
                results.Writer.TryComplete();
            }
            else
            {
                _allWritten!.TrySetResult();
            }
        }

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
        /// Stops the run: <see cref="IsStopping"/> turns true at once, and the token is cancelled with its callbacks
        /// running on the thread pool.
        /// </summary>
        internal void RequestStop()
        {
            Volatile.Write(ref _stopping, 1);
            Task? cancellation = BoundedWorkerPool<TJob, TResult>.CancelInBackground(Cts);
            if (cancellation is not null)
            {
                Interlocked.CompareExchange(ref _cancellation, cancellation, null);
            }
        }

        /// <summary>
        /// Ends the run: cancels it unless it completed, closes it to new claims, and waits for its workers and its
        /// producer, at most ShutdownTimeout on the options' clock. Returns <see langword="true"/> if all of them stopped.
        /// </summary>
        internal async Task<bool> FinishAsync(bool completed)
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
                return true;
            }

            Task both = Task.WhenAll(drained, producer);
            Task waited = both.WaitAsync(timeout, _pool._options.TimeProvider);
            await waited.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _ = waited.Exception;
            if (both.IsCompleted)
            {
                return true;
            }

            // Once its last stuck job returns, take back the run's jobs that never started and dispose its resources;
            // until then they are still in use.
            _ = both.ContinueWith(
                static (_, state) => ((Run)state!).EndAfterTimeout(),
                this,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            return false;
        }

        /// <summary>
        /// After <see cref="FinishAsync"/>: hands every outcome not yet consumed to <paramref name="sink"/>, first the
        /// published ones, then every job that never started as <see cref="JobStatus.Canceled"/>. Returns the number of
        /// never-started jobs.
        /// </summary>
        internal long DrainOutcomes(Action<JobResult<TJob, TResult>>? sink)
        {
            if (Results is { } results)
            {
                results.Writer.TryComplete();
                while (results.Reader.TryRead(out JobResult<TJob, TResult> result))
                {
                    if (!IsWakeMarker(result))
                    {
                        sink?.Invoke(result);
                    }
                }
            }

            return TakeBackNeverStarted(sink);
        }

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

            if (Interlocked.Exchange(ref _unqueued, null) is { } unqueued)
            {
                neverStarted++;
                sink?.Invoke(unqueued.Value.NeverStarted());
            }

            return neverStarted;
        }

        /// <summary>
        /// A run whose finish timed out, once its stuck jobs and its producer have returned: counts the job a producer that
        /// was stuck may have pulled since (nobody reads outcomes any more: the run has thrown), and disposes its resources.
        /// </summary>
        private void EndAfterTimeout()
        {
            long neverStarted = TakeBackNeverStarted(sink: null);
            if (neverStarted > 0)
            {
                _pool.CountNeverStarted(neverStarted);
            }

            DisposeResources();
        }

        /// <summary>Disposes the run's token source, once any background cancellation has finished with it.</summary>
        internal void DisposeResources()
        {
            if (Volatile.Read(ref _cancellation) is { IsCompleted: false } cancellation)
            {
                cancellation.ContinueWith(
                    static (_, state) => ((Run)state!).DisposeResources(),
                    this,
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
                return;
            }

            // Stryker disable once Statement : releases the token source; not observable through the public API
            Cts.Dispose();
        }
    }
}
