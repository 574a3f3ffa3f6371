using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>
    /// The body of one worker task: take a batch of consecutive jobs of one run, run them one after the other, publish
    /// each outcome; retire as soon as the queue is empty. It never throws: a job's exception becomes that job's outcome.
    /// </summary>
    private async Task WorkerLoopAsync(WorkerSlot slot)
    {
        QueuedJob[] batch = slot.Batch;
        int batchSize = 1;
        while (true)
        {
            // TryTake enters the run (under the queue's lock) before it hands out any of its jobs. It also counts the
            // jobs of the last batch that started since the last report as no longer waiting.
            int taken = _queue.TryTake(batch.AsSpan(0, batchSize), _options.MaxWorkers, slot.TakeUnreported(), out Run? run);
            if (taken == 0)
            {
                if (TryRetireWorker(slot))
                {
                    return;
                }

                continue;
            }

            int next = 0;
            long published = 0;
            slot.StartClock();
            try
            {
                while (next < taken)
                {
                    // The job stops waiting now: it starts, or it ends without starting. The queue hears of it with the
                    // worker's next TryTake, or before the worker awaits a job (GiveBackHeldJobs).
                    QueuedJob queued = batch[next];
                    batch[next++] = default;
                    slot.CountStarted();
                    if (run!.IsStopping)
                    {
                        // Cancelled before it started: it never runs.
                        CountNeverStarted(1);
                        run.Publish(queued.NeverStarted());
                        published++;
                        continue;
                    }

                    slot.HoldRest(next, taken);
                    // Consumed exactly once, by EndJob; Completion only waits for it.
#pragma warning disable CA2012
                    ValueTask<TResult> pending = StartJob(run, queued, slot);
#pragma warning restore CA2012
                    if (!pending.IsCompleted)
                    {
                        // The rest of the batch goes back to the queue rather than wait behind this job.
                        GiveBackHeldJobs(run, slot);

                        // Wait without rethrowing: a job cancelled with its run unwinds with its own exception only.
                        await new Completion(pending);
                    }

                    JobResult<TJob, TResult> result = EndJob(run, queued, slot, pending);
                    taken = slot.HeldEnd;
                    Record(run, slot, result);
                    run.Publish(result);
                    published++;
                    batchSize = NextBatchSize(result.Duration);
                }
            }
            finally
            {
                if (next < taken)
                {
                    // Only if something above threw: the jobs not started go back to the queue, or, if the run is
                    // closed, end here as never started. Nothing is lost.
                    published += EndUnstarted(run!, slot, batch.AsSpan(next, taken - next));
                }

                run!.AddPublished(published);
                run.Exit();
            }
        }
    }

    /// <summary>
    /// How many jobs a worker takes at once after a job that took <paramref name="lastDuration"/>: as many as fit in
    /// about <see cref="BatchBudget"/> of work, at most <see cref="MaxBatch"/>. Short jobs are taken in batches, which
    /// saves a lock per job; after a long job, one at a time, so that jobs do not wait in one worker's hands.
    /// </summary>
    private static int NextBatchSize(TimeSpan lastDuration) =>
        (int)Math.Clamp(BatchBudget.Ticks / Math.Max(lastDuration.Ticks, 1), 1, MaxBatch);

    private static readonly TimeSpan BatchBudget = TimeSpan.FromMicroseconds(20);

    private const int MaxBatch = 64;

    private const string CanceledWhileRunningMessage = "The job's run was cancelled while the job was running.";

    /// <summary>
    /// Starts one job's <c>work</c> call under the run's token, or under the worker's timeout token linked to it. An
    /// exception <c>work</c> throws before it returns becomes the faulted value returned.
    /// </summary>
    private ValueTask<TResult> StartJob(Run run, QueuedJob queued, WorkerSlot slot)
    {
        CancellationToken token = _options.JobTimeout == Timeout.InfiniteTimeSpan
            ? run.Token
            : slot.ArmTimeout(_options.JobTimeout, run.Token);
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

    /// <summary>Reads a completed job's outcome, exactly once, and frees the worker's slot for the next job.</summary>
    private JobResult<TJob, TResult> EndJob(Run run, QueuedJob queued, WorkerSlot slot, ValueTask<TResult> completed)
    {
        Debug.Assert(completed.IsCompleted, "A job's outcome is read only once its work call has completed.");
        long started = slot.StartedAt;
        try
        {
            if (completed.IsCanceled && run.Token.IsCancellationRequested)
            {
                // The run's own cancellation, taken without rethrowing the job's exception: a second throw per job
                // would double the cost of cancelling many parked jobs. AsTask consumes a ValueTask source; the
                // exception is built with a fixed message, which costs a tenth of the default message's lookup.
                _ = completed.AsTask();
                var canceled = new TaskCanceledException(CanceledWhileRunningMessage, null, run.Token);
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
            slot.End();
            slot.DisarmTimeout();
        }
    }

    /// <summary>
    /// Called when a job did not complete at once: the rest of the worker's batch goes back to the head of the queue,
    /// so those jobs do not wait for this one while another worker could run them.
    /// </summary>
    private void GiveBackHeldJobs(Run run, WorkerSlot slot)
    {
        // The jobs started so far no longer wait; the queue must know before this worker waits on one of them.
        _queue.Release(slot.TakeUnreported());
        Span<QueuedJob> held = slot.Batch.AsSpan(slot.HeldStart, slot.HeldEnd - slot.HeldStart);
        // A closed run takes nothing back: the worker then ends those jobs as never started once this one returns.
        if (!held.IsEmpty && _queue.Return(run, held))
        {
            held.Clear();
            slot.HoldRest(slot.HeldStart, slot.HeldStart);
            EnsureWorker();
        }
    }

    /// <summary>
    /// Hands jobs a worker took but will not start back to the queue; if their run is closed, ends them as never started.
    /// Returns how many outcomes it published.
    /// </summary>
    private int EndUnstarted(Run run, WorkerSlot slot, Span<QueuedJob> jobs)
    {
        if (_queue.Return(run, jobs))
        {
            jobs.Clear();
            return 0;
        }

        slot.CountStarted(jobs.Length);
        CountNeverStarted(jobs.Length);
        foreach (QueuedJob queued in jobs)
        {
            run.Publish(queued.NeverStarted());
        }

        jobs.Clear();
        return jobs.Length;
    }

    /// <summary>
    /// Decides how a job that threw ended. A cancellation caused by the run is <see cref="JobStatus.Canceled"/>; one
    /// caused by the job's timeout is <see cref="JobStatus.TimedOut"/>; anything else, including a cancellation the
    /// job raised for reasons of its own, is the job's failure.
    /// </summary>
    private JobResult<TJob, TResult> Classify(Run run, QueuedJob queued, Exception exception, CancellationTokenSource? timeout, TimeSpan duration)
    {
        if (exception is OperationCanceledException)
        {
            if (run.Token.IsCancellationRequested)
            {
                return new JobResult<TJob, TResult>(queued.Index, queued.Job, JobStatus.Canceled, default, exception, duration);
            }

            if (timeout is not null && timeout.IsCancellationRequested)
            {
                var timedOut = new TimeoutException(
                    $"Job #{queued.Index} of pool '{_options.Name}' exceeded its timeout of {_options.JobTimeout} and was cancelled.",
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
        if (WorkerPoolMetrics.JobsCompleted.Enabled)
        {
            WorkerPoolMetrics.JobsCompleted.Add(count, _nameTag, new(WorkerPoolMetrics.StatusTag, WorkerPoolMetrics.StatusName(JobStatus.Canceled)));
        }
    }

    /// <summary>
    /// Counts an executed job's outcome (in the worker's own slot: no shared write per job), logs it, and stops its run
    /// on a failure in StopOnFirstError.
    /// </summary>
    private void Record(Run run, WorkerSlot slot, in JobResult<TJob, TResult> result)
    {
        if (WorkerPoolMetrics.JobsCompleted.Enabled)
        {
            WorkerPoolMetrics.JobsCompleted.Add(1, _nameTag, new(WorkerPoolMetrics.StatusTag, WorkerPoolMetrics.StatusName(result.Status)));
        }

        if (WorkerPoolMetrics.JobDuration.Enabled)
        {
            WorkerPoolMetrics.JobDuration.Record(result.Duration.TotalSeconds, _nameTag);
        }

        slot.Count(result.Status);
        switch (result.Status)
        {
            case JobStatus.Succeeded:
            case JobStatus.Canceled:
                break;
            case JobStatus.TimedOut:
                LogSafely(static (pool, result) => Log.JobTimedOut(pool._logger, pool._options.Name, result.Index, pool._options.JobTimeout.TotalMilliseconds), result);
                break;
            default:
                if (_options.ErrorMode == ErrorMode.StopOnFirstError)
                {
                    if (run.TryFail(result.Error!))
                    {
                        LogSafely(static (pool, result) => Log.RunStoppedOnFirstError(pool._logger, pool._options.Name, result.Index, result.Error!), result);
                    }
                }
                else
                {
                    LogSafely(static (pool, result) => Log.JobFailed(pool._logger, pool._options.Name, result.Index, result.Error!), result);
                }

                break;
        }
    }

    /// <summary>
    /// Logs from a worker. A logging provider that throws must not kill the worker: a dead worker would stay counted
    /// and hold up disposal forever. The job's outcome is already recorded, so nothing is lost but the log line.
    /// </summary>
    private void LogSafely(Action<BoundedWorkerPool<TJob, TResult>, JobResult<TJob, TResult>> log, in JobResult<TJob, TResult> result)
    {
        try
        {
            log(this, result);
        }
#pragma warning disable CA1031 // See summary: the worker must survive a faulty logging provider.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    /// <summary>
    /// Awaits a job's <see cref="ValueTask{TResult}"/> until it completes, without taking its result or rethrowing its
    /// exception; the caller then reads it exactly once.
    /// </summary>
    private readonly struct Completion(ValueTask<TResult> pending) : ICriticalNotifyCompletion
    {
        public bool IsCompleted => pending.IsCompleted;

        public Completion GetAwaiter() => this;

        public void GetResult()
        {
        }

        // Stryker disable once all : never called; the async method builder calls UnsafeOnCompleted. ConfigureAwait(true) is equivalent: workers run on the thread pool (Task.Run), with no context
        public void OnCompleted(Action continuation) => pending.ConfigureAwait(false).GetAwaiter().OnCompleted(continuation);

        // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: workers run on the thread pool (Task.Run), with no context
        public void UnsafeOnCompleted(Action continuation) => pending.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(continuation);
    }

    /// <summary>
    /// Per-worker state that outlives any one worker task: what it is running now (read by the shutdown-timeout
    /// report without a lock), and a reusable timeout source.
    /// </summary>
    private sealed class WorkerSlot
    {
        private Run? _run;
        private long _index;
        private TJob? _job;
        private long _started;
        private long _liveSince;
        private CancellationTokenSource? _timeout;

        // Outcomes of the jobs this slot's workers executed, by JobStatus, at [Padding + status]. Written only by the
        // slot's current worker (slots pass from one worker to the next under the pool lock); read by anyone, summed
        // over all slots. The padding keeps two workers' counters off one cache line.
        private const int Padding = 8;
        // Stryker disable once Arithmetic : the padding only keeps counters apart in memory; any length that holds the four counters works
        private readonly long[] _outcomes = new long[Padding + 4 + Padding];

        internal WorkerSlot(int id, BoundedWorkerPool<TJob, TResult> pool)
        {
            Id = id;
            RunWorker = () => pool.WorkerLoopAsync(this);
        }

        /// <summary>Runs a worker task in this slot; made once, so that starting a worker allocates no delegate.</summary>
        internal Func<Task> RunWorker { get; }

        internal int Id { get; }

        /// <summary>The slot's worker's buffer for the jobs it takes at once. Only the slot's current worker uses it.</summary>
        internal QueuedJob[] Batch { get; } = new QueuedJob[MaxBatch];

        /// <summary>Where the jobs of <see cref="Batch"/> not yet started begin, while a job of the batch runs.</summary>
        internal int HeldStart { get; private set; }

        /// <summary>Where they end: equal to <see cref="HeldStart"/> once they were given back.</summary>
        internal int HeldEnd { get; private set; }

        internal void HoldRest(int start, int end)
        {
            HeldStart = start;
            HeldEnd = end;
        }

        // Jobs this slot's worker took that started (or ended without starting) and that the queue still counts as
        // waiting. The worker's own.
        private int _unreported;

        internal void CountStarted(int count = 1) => _unreported += count;

        /// <summary>Returns the jobs started since the last report, and forgets them: the caller reports them.</summary>
        internal int TakeUnreported()
        {
            int unreported = _unreported;
            _unreported = 0;
            return unreported;
        }

        /// <summary>Records that a worker task now runs in this slot: the one interlocked write per worker start.</summary>
        internal void MarkLive() => Interlocked.Exchange(ref _liveSince, Stopwatch.GetTimestamp());

        /// <summary>Records that this slot's worker task has ended: the one interlocked write per worker end.</summary>
        internal void MarkRetired() => Interlocked.Exchange(ref _liveSince, 0);

        /// <summary>Describes the worker in this slot, if one is live, with its job if it is running one.</summary>
        internal bool TryDescribeWorker(string poolName, long now, out LiveWorkerInfo info)
        {
            long liveSince = Volatile.Read(ref _liveSince);
            if (liveSince == 0)
            {
                info = default;
                return false;
            }

            RunningJobInfo? job = TryDescribe(filter: null, poolName, now, out RunningJobInfo running) ? running : null;
            info = new LiveWorkerInfo
            {
                PoolName = poolName,
                WorkerId = Id,
                Age = Stopwatch.GetElapsedTime(liveSince, now),
                RunningJob = job,
            };
            return true;
        }

        // The worker's clock: when its last job ended, or when it took its batch. One timestamp per job: a job of a
        // batch starts when the one before it ended, so its duration also holds the worker's bookkeeping between the
        // two (tens of nanoseconds).
        private long _clock;

        /// <summary>Reads the clock as a batch begins.</summary>
        internal void StartClock() => _clock = Stopwatch.GetTimestamp();

        /// <summary>Reads the clock as a job ends, and returns how long the job took since <paramref name="started"/>.</summary>
        internal TimeSpan Lap(long started)
        {
            long now = Stopwatch.GetTimestamp();
            _clock = now;
            return Stopwatch.GetElapsedTime(started, now);
        }

        /// <summary>Marks the slot busy with a job, started now (at the end of the worker's last job in this batch).</summary>
        internal void Begin(Run run, QueuedJob queued)
        {
            _index = queued.Index;
            _job = queued.Job;
            _started = _clock;
            Volatile.Write(ref _run, run);
        }

        /// <summary>When the running job started, as a <see cref="Stopwatch"/> timestamp.</summary>
        internal long StartedAt => _started;

        internal void End()
        {
            Volatile.Write(ref _run, null);
            _job = default;
        }

        /// <summary>Whether a job is executing in this slot now.</summary>
        internal bool IsRunningJob => Volatile.Read(ref _run) is not null;

        /// <summary>The slot's worker counts one executed job's outcome.</summary>
        internal void Count(JobStatus status)
        {
            ref long counter = ref _outcomes[Padding + (int)status];
            Volatile.Write(ref counter, counter + 1);
        }

        /// <summary>How many executed jobs ended with <paramref name="status"/> in this slot.</summary>
        internal long Counted(JobStatus status) => Volatile.Read(ref _outcomes[Padding + (int)status]);

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

            info = new RunningJobInfo
            {
                PoolName = poolName,
                Index = _index,
                Job = _job,
                Elapsed = Stopwatch.GetElapsedTime(_started, now),
            };
            return true;
        }

        // The timeout of the running job, armed by ArmTimeout: the slot's reusable source, and its link to the run's token.
        private CancellationTokenSource? _armed;
        private CancellationTokenRegistration _link;

        /// <summary>The running job's timeout source, or <see langword="null"/> when jobs have no timeout.</summary>
        internal CancellationTokenSource? ArmedTimeout => _armed;

        /// <summary>
        /// Arms the timeout for the job about to start: the slot's source (a new one if the last one fired) is cancelled
        /// after <paramref name="after"/> or when <paramref name="runToken"/> is. Returns the job's token.
        /// </summary>
        internal CancellationToken ArmTimeout(TimeSpan after, CancellationToken runToken)
        {
            CancellationTokenSource timeout = _timeout ??= new CancellationTokenSource();
            _link = runToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), timeout);
            timeout.CancelAfter(after);
            _armed = timeout;
            return timeout.Token;
        }

        /// <summary>After a job: resets the timeout source for the next job, or drops it if it was cancelled.</summary>
        internal void DisarmTimeout()
        {
            if (_armed is not { } timeout)
            {
                return;
            }

            // Dispose waits for a cancel callback already running, so the source is quiet before it is reused.
            _link.Dispose();
            _link = default;
            _armed = null;
            if (!timeout.TryReset())
            {
                // Stryker disable once Statement : releases a fired timeout's source; not observable through the public API
                timeout.Dispose();
                _timeout = null;
            }
        }
    }
}
