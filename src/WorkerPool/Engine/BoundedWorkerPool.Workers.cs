using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>
    /// The body of one worker task: take one job at a time, run it in its caller's ExecutionContext, publish its outcome;
    /// retire as soon as the queue is empty. It never throws: whatever a job, a listener or a logger throws becomes that
    /// job's outcome or is dropped, and the loop goes on.
    /// </summary>
    private async Task WorkerLoopAsync(WorkerSlot slot)
    {
        // The run the worker is inside (see the claim protocol), and how many of its outcomes the worker published and
        // has not yet counted. A worker stays inside a run while it takes that run's jobs one after the other; it counts
        // them and leaves the run when it takes another run's job, or none: before it could ever wait for anything.
        Run? entered = null;
        long uncounted = 0;

        // Whether the clock read as the last job ended can serve as the next job's start: the worker goes from one job
        // to the next without waiting, so the gap is its own bookkeeping. Read again after anything that may take
        // longer: a failure (logged), or a listener attached to the per-job metrics.
        bool clockFresh = false;

        // The worker's hand (docs/design.md, "Batches: a worker's hand"), with WorkerBatchSize above 1: more jobs of the
        // run it is inside, taken with the last one. The worker fills it only while its jobs complete at once and quickly
        // (quick), and gives back what is left before it waits for a job, after a slow one, and before it retires over
        // the bound.
        JobQueue<Run, QueuedJob>.Hand? hand = null;
        bool quick = false;
        while (true)
        {
            if (_scheduler.IsOverBound())
            {
                clockFresh = false;
                quick = false;
                ExecutionContext.Restore(JobScope.DefaultContext);
                ReturnHand(entered, hand, ref uncounted);
                Leave(ref entered, ref uncounted);
                if (_scheduler.TryRetireExcessWorker(slot))
                {
                    return;
                }
            }

            bool took;
            Run? run;
            // Assigned here, so that a rewrite of the condition below (a mutant) still compiles.
            QueuedJob queued = default;
            if (hand is not null && hand.TryTakeNext(out queued))
            {
                // The next job of the hand: of the run the worker is inside.
                took = true;
                run = entered;
            }
            else
            {
                // TryTake enters the job's run (under the queue's lock) before it hands out the job, unless the worker is
                // inside that run already; the jobs of the last hand release their room there.
                bool fill = quick && _options.WorkerBatchSize > 1;
                if (fill)
                {
                    hand ??= slot.Hand;
                }

                took = _queue.TryTake(entered, hand, fill, out run, out queued);
            }

            if (!ReferenceEquals(run, entered))
            {
                // Leaving a run may end it here (a submission's fast end: its log, its token source, its value task), so
                // the next job's start is read afresh.
                clockFresh &= entered is null;
                Leave(ref entered, ref uncounted);
                entered = run;
            }

            if (!took)
            {
                // Whatever the worker does now, it does for no caller.
                ExecutionContext.Restore(JobScope.DefaultContext);
                if (_scheduler.TryRetireWorker(slot))
                {
                    return;
                }

                continue;
            }

            Debug.Assert(run is not null && ReferenceEquals(run, entered), "A taken job's run is the one the worker is inside.");
            JobResult<TJob, TResult> result;
            if (run.IsStopping)
            {
                // Cancelled before it started: it never runs. Counted in no caller's context.
                ExecutionContext.Restore(JobScope.DefaultContext);
                result = queued.NeverStarted();
                CountNeverStarted(1);
                clockFresh = false;
                quick = false;
            }
            else
            {
                // The job runs in its caller's context; the worker's own awaits then carry it too, until the next job
                // restores its own caller's, or the worker leaves it for the default one.
                ExecutionContext.Restore(run.JobContextFor(slot));
                if (!clockFresh)
                {
                    slot.StartClock();
                }

#pragma warning disable CA2012 // Consumed exactly once, by EndJob; the awaiter only waits for it.
                ValueTask<TResult> pending = StartJob(run, queued, slot);
#pragma warning restore CA2012
                quick = slot.IsCompleted(pending);
                if (!quick)
                {
                    // Nothing waits in the worker's hand while it waits for a job, and no job of it that started holds
                    // room: another worker may start the rest, and a producer may fill the room.
                    ReturnHand(run, hand, ref uncounted);

                    // Wait without rethrowing: a job cancelled with its run unwinds with its own exception only.
                    await new Completion(pending, slot);
                }

                result = EndJob(run, queued, slot, pending);
                Record(run, slot, result);
                clockFresh = result.Status == JobStatus.Succeeded && !WorkerPoolMetrics.PerJobListened;
                quick &= result.Status == JobStatus.Succeeded && result.Duration < QuickJob;
                if (!quick && hand is { HasUnclaimed: true })
                {
                    // After a slow job, the next ones may be slow too: they wait in the queue, where any worker finds them.
                    ReturnHand(run, hand, ref uncounted);
                }
            }

            run.Publish(result);
            uncounted++;
        }
    }

    /// <summary>
    /// The longest a job may take, having completed at once, for its worker to take a hand of the next jobs: long enough
    /// for trivial work, short enough that a job in the hand never waits long for the jobs before it.
    /// </summary>
    private static readonly TimeSpan QuickJob = TimeSpan.FromMicroseconds(20);

    /// <summary>
    /// Gives the worker's hand back, if it holds any job: releases the room of the jobs of it the worker took, and puts
    /// the others back at the head of the queue, for any worker (<see cref="JobQueue{TOwner, TItem}.ReturnHand"/>); if
    /// their run closed meanwhile, ends them unstarted here, as the run's finish expects of a worker inside the run.
    /// </summary>
    private void ReturnHand(Run? run, JobQueue<Run, QueuedJob>.Hand? hand, ref long uncounted)
    {
        if (hand is null || hand.Held == 0)
        {
            return;
        }

        Debug.Assert(run is not null && ReferenceEquals(hand.Owner, run), "A worker holds jobs only of the run it is inside.");
        int putBack = _queue.ReturnHand(hand, out List<QueuedJob>? unstarted);
        if (putBack > 0)
        {
            _scheduler.EnsureWorkers(putBack);
        }

        if (unstarted is not null)
        {
            foreach (QueuedJob queued in unstarted)
            {
                run.Publish(queued.NeverStarted());
            }

            CountNeverStarted(unstarted.Count);
            uncounted += unstarted.Count;
        }
    }

    /// <summary>Counts the outcomes published in the run the worker is inside, and leaves it.</summary>
    private static void Leave(ref Run? entered, ref long uncounted)
    {
        if (entered is null)
        {
            return;
        }

        entered.AddPublished(uncounted);
        entered.Exit();
        entered = null;
        uncounted = 0;
    }

    private const string CanceledWhileRunningMessage = "The job's run was cancelled while the job was running.";

    /// <summary>
    /// Starts one job's <c>work</c> call under the run's token, or under the worker's timeout token linked to it. An
    /// exception <c>work</c> throws before it returns becomes the faulted value returned.
    /// </summary>
    private ValueTask<TResult> StartJob(Run run, QueuedJob queued, WorkerSlot slot)
    {
        CancellationToken token = _options.JobTimeout == Timeout.InfiniteTimeSpan
            ? run.Token
            : slot.ArmTimeout(_options.JobTimeout, run);
        slot.Begin(run, queued);
        try
        {
            return _work(queued.Job, token);
        }
        catch (Exception exception)
        {
            return ValueTask.FromException<TResult>(exception);
        }
    }

    /// <summary>
    /// Reads a completed job's outcome, exactly once, and frees the worker's slot for the next job. A job whose
    /// <see cref="ValueTask{TResult}"/> could not be inspected or awaited ends <see cref="JobStatus.Failed"/> with that
    /// exception.
    /// </summary>
    private JobResult<TJob, TResult> EndJob(Run run, QueuedJob queued, WorkerSlot slot, ValueTask<TResult> completed)
    {
        long started = slot.StartedAt;
        try
        {
            if (slot.TakeAwaitFault() is { } fault)
            {
                return new JobResult<TJob, TResult>(queued.Index, queued.Job, JobStatus.Failed, default, fault, slot.Lap(started));
            }

            if (completed.IsCanceled && run.IsCanceled)
            {
                // The run's own cancellation, taken without rethrowing the job's exception: a second throw per job
                // would double the cost of cancelling many parked jobs. AsTask consumes a ValueTask source; the
                // exception is built with a fixed message, which costs a tenth of the default message's lookup.
                _ = completed.AsTask();
                var canceled = new TaskCanceledException(CanceledWhileRunningMessage, null, run.CanceledToken);
                return Classify(run, queued, canceled, slot.ArmedTimeout, slot.Lap(started));
            }

            // Result throws the job's own exception, if it has one: classified below.
            return new JobResult<TJob, TResult>(queued.Index, queued.Job, JobStatus.Succeeded, completed.Result, null, slot.Lap(started));
        }
        catch (Exception exception)
        {
            TimeSpan duration = slot.Lap(started);
            return Classify(run, queued, exception, slot.ArmedTimeout, duration);
        }
        finally
        {
            // The timeout first, while the slot still names the job.
            try
            {
                slot.DisarmTimeout();
            }
            finally
            {
                slot.End();
            }
        }
    }

    /// <summary>
    /// Decides how a job that threw ended. A cancellation caused by the run (its caller's token, the pool's disposal, or
    /// the run's own stop) is <see cref="JobStatus.Canceled"/>; one caused by the job's timeout is
    /// <see cref="JobStatus.TimedOut"/>; anything else, including a cancellation the job raised for reasons of its own,
    /// is the job's failure.
    /// </summary>
    private JobResult<TJob, TResult> Classify(Run run, QueuedJob queued, Exception exception, CancellationTokenSource? timeout, TimeSpan duration)
    {
        if (exception is OperationCanceledException)
        {
            if (run.IsCanceled)
            {
                return new JobResult<TJob, TResult>(queued.Index, queued.Job, JobStatus.Canceled, default, exception, duration);
            }

            if (timeout is not null && timeout.IsCancellationRequested)
            {
                var timedOut = new TimeoutException(
                    $"Job {RunningJobInfo.Label(queued.Index, DescribeJob(queued.Job))} of pool '{_name}' exceeded its timeout of {_options.JobTimeout} and was cancelled.",
                    exception);
                return new JobResult<TJob, TResult>(queued.Index, queued.Job, JobStatus.TimedOut, default, timedOut, duration);
            }
        }

        return new JobResult<TJob, TResult>(queued.Index, queued.Job, JobStatus.Failed, default, exception, duration);
    }

    /// <summary>Counts jobs that ended as <see cref="JobStatus.Canceled"/> without ever starting.</summary>
    private void CountNeverStarted(long count)
    {
        Interlocked.Add(ref _neverStarted, count);
        WorkerPoolMetrics.RecordCompleted(count, _nameTag, JobStatus.Canceled);
    }

    /// <summary>
    /// Counts an executed job's outcome (in the worker's own slot: no shared write per job), logs it, and stops its run
    /// on a failure in StopOnFirstError. Nothing here throws: metrics and logs are recorded safely.
    /// </summary>
    private void Record(Run run, WorkerSlot slot, in JobResult<TJob, TResult> result)
    {
        slot.Count(result.Status);
        if (result.Status is JobStatus.Failed or JobStatus.TimedOut)
        {
            run.CountUnsuccessful();
        }

        WorkerPoolMetrics.RecordCompleted(1, _nameTag, result.Status);
        WorkerPoolMetrics.RecordDuration(result.Duration, _nameTag, result.Status);
        switch (result.Status)
        {
            case JobStatus.Succeeded:
            case JobStatus.Canceled:
                break;
            case JobStatus.TimedOut:
                Log.JobTimedOut(_logger, _name, run.Id, result.Index, _options.JobTimeout.TotalMilliseconds);
                break;
            default:
                if (_options.ErrorMode == ErrorMode.StopOnFirstError)
                {
                    if (run.TryFail(result.Error!))
                    {
                        Log.RunStoppedOnFirstError(_logger, _name, run.Id, result.Index, result.Error!);
                    }
                }
                else
                {
                    Log.JobFailed(_logger, _name, run.Id, result.Index, result.Error!);
                }

                break;
        }
    }

    /// <summary>
    /// Awaits a job's <see cref="ValueTask{TResult}"/> until it completes, without taking its result or rethrowing its
    /// exception; the caller then reads it exactly once. If the value task cannot be inspected or awaited (its source
    /// throws), the fault is kept in the worker's slot, the worker resumes, and the job ends Failed with it.
    /// </summary>
    private readonly struct Completion(ValueTask<TResult> pending, WorkerSlot slot) : ICriticalNotifyCompletion
    {
        public bool IsCompleted => slot.IsCompleted(pending);

        public Completion GetAwaiter() => this;

        public void GetResult()
        {
        }

        // Stryker disable once all : never called; the async method builder calls UnsafeOnCompleted.
        public void OnCompleted(Action continuation) => UnsafeOnCompleted(continuation);

        public void UnsafeOnCompleted(Action continuation)
        {
            // A source may take the continuation and still throw, or call it twice: the worker resumes once at most.
            var once = new ResumeOnce(continuation);
            try
            {
                // The worker resumes on the thread pool, never on the stack of whatever completed the job: a caller's
                // Cancel(), or a SetResult of other code, returns at once instead of running the pool's next jobs,
                // which may be other callers'.
                // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: workers run on the thread pool, with no context
                pending.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(once.Dispatch);
            }
            catch (Exception exception)
            {
                // The job's value task refused the continuation: the worker must not wait forever, nor die. Unless the
                // source called the continuation before it threw: then the worker has resumed, or is about to, with
                // the job's outcome, and may be running its next job, which the fault must never reach.
                if (once.TryTake() is { } resume)
                {
                    slot.SetAwaitFault(exception);
                    // Stryker disable once Boolean : preferLocal is a scheduling hint
                    ThreadPool.UnsafeQueueUserWorkItem(static resume => resume(), resume, preferLocal: false);
                }
            }
        }
    }

    /// <summary>Runs a worker's continuation once, however many times it is called.</summary>
    private sealed class ResumeOnce(Action continuation) : IThreadPoolWorkItem
    {
        private Action? _continuation = continuation;

        internal void Resume() => TryTake()?.Invoke();

        /// <summary>Takes the continuation, unless it was taken before: whoever takes it runs it.</summary>
        internal Action? TryTake() => Interlocked.Exchange(ref _continuation, null);

        /// <summary>Queues the continuation to the thread pool, preferring the current thread's own queue.</summary>
        // Stryker disable once Boolean : preferLocal is a scheduling hint
        internal void Dispatch() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);

        void IThreadPoolWorkItem.Execute() => Resume();
    }

    /// <summary>
    /// Per-worker state that outlives any one worker task: what it is running now (read by the shutdown-timeout
    /// report without a lock), and a reusable timeout source.
    /// </summary>
    private sealed class WorkerSlot(int id, BoundedWorkerPool<TJob, TResult> pool) : WorkerSlotBase(id, pool._options.TimeProvider), IJobSlot
    {
        private Run? _run;
        private long _index;
        private TJob? _job;
        private long _started;
        private CancellationTokenSource? _timeout;
        private readonly BoundedWorkerPool<TJob, TResult> _pool = pool;


        /// <summary>
        /// Runs a worker task in this slot. Queued with <see cref="ThreadPool.UnsafeQueueUserWorkItem(IThreadPoolWorkItem, bool)"/>:
        /// the worker starts in the default ExecutionContext, never in that of the caller whose job made it start, and
        /// starting it allocates nothing but the worker's task.
        /// </summary>
        public override void Execute()
        {
            // WorkerLoopAsync never throws, so its task needs no observer. DisposeAsync waits for the worker through
            // WhenNoWorkersAsync.
            _ = _pool.WorkerLoopAsync(this);
        }

        // A fault of the running job's value task, met while inspecting or awaiting it. The worker's own.
        private Exception? _awaitFault;

        /// <summary>Whether <paramref name="pending"/> has completed; <see langword="true"/> if it cannot tell, keeping the fault.</summary>
        internal bool IsCompleted(ValueTask<TResult> pending)
        {
            try
            {
                return pending.IsCompleted;
            }
            catch (Exception exception)
            {
                _awaitFault = exception;
                return true;
            }
        }

        internal void SetAwaitFault(Exception exception) => Volatile.Write(ref _awaitFault, exception);

        internal Exception? TakeAwaitFault() => Interlocked.Exchange(ref _awaitFault, null);

        // The hand of the slot's worker: jobs of one run taken with its last one (see WorkerLoopAsync).
        private JobQueue<Run, QueuedJob>.Hand? _hand;

        /// <summary>The hand of the slot's worker; made the first time a worker of this slot fills one.</summary>
        internal JobQueue<Run, QueuedJob>.Hand Hand => _hand ??= _pool._queue.NewHand();

        // The last reading of the pool's clock, taken as a job starts and as it ends.
        private long _clock;

        /// <summary>Reads the clock as a job begins.</summary>
        internal void StartClock() => _clock = Time.GetTimestamp();

        /// <summary>Reads the clock as a job ends, and returns how long the job took since <paramref name="started"/>.</summary>
        internal TimeSpan Lap(long started)
        {
            long now = Time.GetTimestamp();
            _clock = now;
            return Time.GetElapsedTime(started, now);
        }

        /// <summary>Marks the slot busy with a job, started when the clock was last read.</summary>
        internal void Begin(Run run, QueuedJob queued)
        {
            _index = queued.Index;
            _job = queued.Job;
            _started = _clock;
            Volatile.Write(ref _run, run);
        }

        /// <summary>When the running job started, as a timestamp of the pool's <see cref="WorkerPoolOptions.TimeProvider"/>.</summary>
        internal long StartedAt => _started;

        internal void End()
        {
            Volatile.Write(ref _run, null);
            _job = default;
        }

        /// <summary>Whether a job of <paramref name="run"/> is executing in this slot now.</summary>
        public bool IsRunning(object run) => ReferenceEquals(Volatile.Read(ref _run), run);

        internal override bool IsRunningJob => Volatile.Read(ref _run) is not null;

        internal override bool TryDescribeRunningJob(string poolName, long now, out RunningJobInfo info) =>
            TryDescribe(filter: null, poolName, now, out info);

        /// <summary>
        /// Describes the job in this slot if one is running, and if it belongs to <paramref name="filter"/> (any run
        /// when <see langword="null"/>). Read without a lock: used only for reports about jobs stuck in their work.
        /// </summary>
        internal bool TryDescribe(Run? filter, string poolName, long now, out RunningJobInfo info)
        {
            Run? run = Volatile.Read(ref _run);
            if (run is null || (filter is not null && !ReferenceEquals(run, filter)))
            {
                info = default;
                return false;
            }

            TJob? job = _job;
            info = new RunningJobInfo
            {
                PoolName = poolName,
                RunId = run.Id,
                Index = _index,
                Job = job,
                JobText = _pool.DescribeJob(job),
                Elapsed = Time.GetElapsedTime(_started, now),
            };
            return true;
        }

        // The timeout of the running job, armed by ArmTimeout: the slot's reusable source, and its link to the run's token.
        private CancellationTokenSource? _armed;
        private CancellationTokenRegistration _link;

        // The id of the run whose jobs the reusable source served (an id, not the run: a finished run is not kept alive).
        private long _timeoutRunId;

        // The slot's timer, made once from the pool's time provider, and the source it cancels when it goes off: the armed
        // one, or null once the job has returned. Guarded by _timerLock, which the timer holds while it cancels, so that a
        // late tick never reaches a source that is reset for the next job, or disposed.
        private ITimer? _timer;
        private CancellationTokenSource? _timerTarget;
        private readonly object _timerLock = new();

        /// <summary>The running job's timeout source, or <see langword="null"/> when jobs have no timeout.</summary>
        internal CancellationTokenSource? ArmedTimeout => _armed;

        /// <summary>
        /// Arms the timeout for the job of <paramref name="run"/> about to start: the slot's source is cancelled after
        /// <paramref name="after"/>, on a timer of the pool's <see cref="WorkerPoolOptions.TimeProvider"/>, or when the
        /// run's token is. Returns the job's token.
        /// </summary>
        /// <remarks>
        /// The source is reused only between jobs of one run. A job may leave work behind that still holds its token;
        /// once the slot runs another run's job, the source is a new one, so nothing another caller does (its
        /// cancellation, its job's timeout) ever cancels a token this caller's job was given. The source has no timer
        /// of its own: one that cancelled it would run the job's callbacks on the timer's thread, where an exception
        /// from one of them would end the process.
        /// </remarks>
        internal CancellationToken ArmTimeout(TimeSpan after, Run run)
        {
            if (_timeout is not null && _timeoutRunId != run.Id)
            {
                // Stryker disable once Statement : releases the previous run's source; not observable through the public API
                _timeout.Dispose();
                _timeout = null;
            }

            // Stryker disable once Assignment : a new timeout source for each job only costs an allocation
            CancellationTokenSource timeout = _timeout ??= new CancellationTokenSource();
            _timeoutRunId = run.Id;
            _link = run.Token.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), timeout);
            lock (_timerLock)
            {
                _timerTarget = timeout;
            }

            (_timer ??= CreateTimer()).Change(after, Timeout.InfiniteTimeSpan);
            _armed = timeout;
            return timeout.Token;
        }

        /// <summary>The slot's timer, made without the ExecutionContext of the job that first needs it.</summary>
        private ITimer CreateTimer()
        {
            using (ExecutionContext.SuppressFlow())
            {
                return Time.CreateTimer(static state => ((WorkerSlot)state!).OnTimeout(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }

        /// <summary>
        /// The timer went off: cancels the armed source, if the job has not returned, with its callbacks on the thread pool
        /// (<see cref="CancelInBackground"/>); the token reads cancelled at once.
        /// </summary>
        private void OnTimeout()
        {
            lock (_timerLock)
            {
                if (_timerTarget is { } target)
                {
                    _timerTarget = null;
                    CancelInBackground(target);
                }
            }
        }

        /// <summary>
        /// After a job: stops the timer, then resets the timeout source for the next job, or drops it if it cannot be
        /// reset: if the run's cancellation or the timer cancelled it. Never waits for a callback on the job's token.
        /// </summary>
        internal void DisarmTimeout()
        {
            if (_armed is not { } timeout)
            {
                return;
            }

            // Once the target is cleared, a tick that comes now cancels nothing.
            lock (_timerLock)
            {
                _timerTarget = null;
            }

            _timer!.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

            // Not Dispose, which would wait for the link's callback if it is running: through the job's token, that
            // runs the job's own callbacks, which may block, and the job has returned. A link that could not be removed
            // has cancelled the source or is cancelling it: the source is dropped, not reused, and not disposed while
            // its callbacks may still run.
            bool removed = _link.Unregister();
            _link = default;
            _armed = null;
            if (!removed)
            {
                _timeout = null;
                return;
            }

            if (!timeout.TryReset())
            {
                // Cancelled by the timer, whose callbacks may still be running on the thread pool: dropped, not disposed.
                _timeout = null;
            }
        }
    }
}
