using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace WorkerPool;

// Concurrency design: docs/design.md. In short:
//   Producer  one task per RunAsync or StreamAsync run, owned by the run; ends when the source is exhausted, throws, or
//             run.Token is cancelled. A submission's call writes its one job itself; only when there is no room, or
//             others wait, does a small producer task (EnqueueSubmissionAsync) wait in line with it.
//   Worker    at most MaxWorkers (plus places lent to nested runs), owned by the pool's WorkerScheduler; started with
//             no caller's ExecutionContext; takes one job at a time (up to WorkerBatchSize of one run's jobs when set);
//             retires when the queue is empty. DisposeAsync waits for it.
//   work call owned by its run; the run's finish waits until no worker is inside the run (the claim protocol, ClaimGate).
//   Locks     the scheduler's, then the queue's; the run registry's (RunRegistry) and this pool's _sync are never held
//             with another; nothing outside the pool runs under any of them.
// The invariants are Debug.Asserts (AssertInvariants in WorkerScheduler, JobQueue and CreditWindow, and in RunRegistry's
// calls).

/// <summary>
/// A bounded worker pool: at most <see cref="WorkerPoolOptions.MaxWorkers"/> jobs execute at once, at most
/// <see cref="WorkerPoolOptions.QueueCapacity"/> wait, and no worker task outlives the call that owns it.
/// </summary>
/// <typeparam name="TJob">The type of the jobs.</typeparam>
/// <typeparam name="TResult">The type of the value each job produces.</typeparam>
/// <remarks>
/// <para>
/// Build one pool and share it: every <c>RunAsync</c>, <c>StreamAsync</c> and <c>SubmitAsync</c> call on it, from any
/// thread, shares the same bound on workers and queued jobs. All public members are thread-safe.
/// </para>
/// <para>
/// Every wait inside the pool ends when its run is cancelled: the producer's send (its place in the admission line), an
/// asynchronous source's <c>MoveNextAsync</c> (abandoned if it ignores the token), and a stream consumer's receive;
/// every <c>work</c> call's token is cancelled; results are handed off without waiting. When a run's task completes,
/// however it completes, none of its <c>work</c> calls is still executing and none will start, unless jobs ignored
/// cancellation past a finite <see cref="WorkerPoolOptions.ShutdownTimeout"/> (the run then ends with a
/// <see cref="WorkerPoolShutdownTimeoutException"/> that names them).
/// </para>
/// </remarks>
public sealed partial class BoundedWorkerPool<TJob, TResult> : IAsyncDisposable, IDisposable
{
    private readonly Func<TJob, CancellationToken, ValueTask<TResult>> _work;
    private readonly WorkerPoolOptions _options;
    private readonly string _name;
    private readonly ILogger _logger;
    private readonly JobQueue<Run, QueuedJob> _queue;
    private readonly CancellationTokenSource _disposeCts = new();
    private readonly WorkerScheduler _scheduler;
    private readonly KeyValuePair<string, object?> _nameTag;

    // The runs in flight, and whether the pool is draining or disposed.
    private readonly RunRegistry<Run> _runs = new(RunRegistry<Run>.StripesFor(Environment.ProcessorCount));

    // Guards _endingRuns.
    private readonly object _sync = new();

    // Guards the growth of runs' per-slot context arrays (Run.JobContextFor): taken at most once per run and worker slot.
    private readonly object _contextSync = new();

    // Runs that returned past ShutdownTimeout and have not yet counted their last jobs (HoldRest): named when a drain or
    // disposal times out on them.
    private readonly HashSet<Run> _endingRuns = [];

    // The asynchronous sources that cancelled runs let go of before they answered, until they do.
    private readonly AbandonedSources _abandonedSources = new();

    // Why the pool's own token (_disposeCts) was cancelled: by DrainAsync's token, or by disposal. Set before it is.
    private volatile string? _stopReason;

    // Counters, updated with Interlocked.
    // Jobs that ended Canceled without ever starting (counted by runs and workers, with Interlocked). Outcomes of
    // executed jobs, and the jobs running now, are counted per worker slot and summed when read.
    private long _neverStarted;

    /// <summary>
    /// Creates a pool that runs <paramref name="work"/> for each job.
    /// </summary>
    /// <param name="work">
    /// The work to do for one job. It receives a token that is cancelled when the job's run is cancelled (by its
    /// caller's token, the token of a <c>StreamAsync</c> enumeration, disposal of the pool or a cancelled
    /// <see cref="DrainAsync"/>), when the run fails (a job's failure in <see cref="ErrorMode.StopOnFirstError"/>, or its
    /// source throwing, in either mode), when a <c>StreamAsync</c> consumer stops enumerating, and when
    /// <see cref="WorkerPoolOptions.JobTimeout"/> elapses. Work that observes the token stops promptly; work that
    /// ignores it is waited for (see <see cref="WorkerPoolOptions.ShutdownTimeout"/>). The token belongs to the
    /// <c>work</c> call: with a finite <see cref="WorkerPoolOptions.JobTimeout"/> the pool reuses its source for the same
    /// run's later jobs on that worker, and disposes it afterwards, so work left running after the call returned must not
    /// keep using it.
    /// </param>
    /// <param name="options">The settings; <see langword="null"/> for the defaults. The pool validates them and keeps a copy.</param>
    /// <param name="loggerFactory">Where to log; <see langword="null"/> for no logging.</param>
    /// <exception cref="ArgumentNullException"><paramref name="work"/> or <see cref="WorkerPoolOptions.TimeProvider"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names the option and its value.</exception>
    /// <exception cref="ArgumentException"><see cref="WorkerPoolOptions.Name"/> is empty.</exception>
    public BoundedWorkerPool(
        Func<TJob, CancellationToken, ValueTask<TResult>> work,
        WorkerPoolOptions? options = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(work);
        _work = work;
        _options = (options ?? new WorkerPoolOptions()).ValidateAndClone();
        _name = _options.TakeName();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("WorkerPool.BoundedWorkerPool");
        _queue = new JobQueue<Run, QueuedJob>(_options.QueueCapacity, _options.WorkerBatchSize - 1);
        _scheduler = new WorkerScheduler(_name, _options.MaxWorkers, _options.TimeProvider, _queue, id => new WorkerSlot(id, this));
        _nameTag = _scheduler.NameTag;
        PoolRegistry.Register(_scheduler);
    }

    /// <summary>Producers and submitters waiting in line for room in the queue.</summary>
    internal int WaitingForRoom => _queue.WaitingForRoom;

    /// <summary>Places in the bound lent now by jobs that wait for a nested run of this pool.</summary>
    internal int LentPlaces => _scheduler.LentPlaces;

    /// <summary>
    /// Returns a task that completes the next time the pool is at rest: no worker task, and no run that returned past
    /// ShutdownTimeout with jobs still to count (at once if that is so now). Lets callers observe a pool at rest
    /// without polling.
    /// </summary>
    internal Task WhenNoWorkersAsync() => _scheduler.WhenNoWorkersAsync();

    /// <summary>Gets the pool's name, from <see cref="WorkerPoolOptions.Name"/>.</summary>
    /// <value>The name given in the options, or a name unique in the process, <c>WorkerPool-</c><em>n</em>.</value>
    public string Name => _name;

    /// <summary>
    /// Takes a snapshot of the pool's state and counters.
    /// </summary>
    /// <returns>The current statistics. Counts run from the moment the pool was built.</returns>
    /// <remarks>Thread-safe, lock-free, and usable after the pool is disposed.</remarks>
    public WorkerPoolStatistics GetStatistics() => new()
    {
        MaxWorkers = _options.MaxWorkers,
        QueueCapacity = _options.QueueCapacity,
        IsDraining = _runs.IsDraining,
        IsDisposed = _runs.IsDisposed,
        ActiveWorkers = _scheduler.ActiveWorkers,
        PeakWorkers = _scheduler.PeakWorkers,
        QueuedJobs = _queue.Waiting,
        RunningJobs = _scheduler.CountRunningJobs(),
        Succeeded = _scheduler.SumOutcomes(JobStatus.Succeeded),
        Failed = _scheduler.SumOutcomes(JobStatus.Failed),
        TimedOut = _scheduler.SumOutcomes(JobStatus.TimedOut),
        Canceled = _scheduler.SumOutcomes(JobStatus.Canceled) + Interlocked.Read(ref _neverStarted),
    };

    /// <summary>
    /// Stops the pool accepting new runs, and waits until the runs in flight have finished and no worker is left. If
    /// <paramref name="cancellationToken"/> is cancelled first, cancels those runs and waits until their work has stopped.
    /// </summary>
    /// <param name="cancellationToken">
    /// Ends the wait for the runs to finish by themselves: they are cancelled instead, and the drain then waits at most
    /// ShutdownTimeout, also for jobs of runs that have already thrown their shutdown timeout.
    /// </param>
    /// <returns>
    /// A task that completes once no run and no worker is left, and every run that returned past ShutdownTimeout has
    /// counted its last jobs. After <paramref name="cancellationToken"/> was cancelled, it waits for the runs' work and
    /// internal loops only, as <see cref="DisposeAsync"/> does: not for a stream consumer paused between two items, which
    /// gets the cancellation at its next <c>MoveNextAsync</c>.
    /// </returns>
    /// <exception cref="ObjectDisposedException">The pool has been disposed.</exception>
    /// <exception cref="InvalidOperationException">
    /// Called from inside one of the pool's own jobs, whose end the drain would wait for.
    /// </exception>
    /// <exception cref="WorkerPoolShutdownTimeoutException">
    /// (From the task.) The runs were cancelled, and jobs (or synchronous sources) ignored cancellation for longer than a
    /// finite <see cref="WorkerPoolOptions.ShutdownTimeout"/>. The exception names them.
    /// </exception>
    /// <remarks>
    /// Thread-safe. From the first call on, <c>RunAsync</c>, <c>StreamAsync</c> and <c>SubmitAsync</c> throw
    /// <see cref="InvalidOperationException"/>, except when called from inside a job of this pool (a nested run of a run in
    /// flight). Runs cancelled by the drain end as cancelled, saying so: <c>RunAsync</c> and <c>StreamAsync</c> with
    /// <see cref="WorkerPoolCanceledException{TJob, TResult}"/>, <c>SubmitAsync</c> with an
    /// <see cref="OperationCanceledException"/>. Call
    /// <see cref="DisposeAsync"/> afterwards, as always.
    /// </remarks>
    public Task DrainAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (JobScope.FindLiveMark(this) is not null)
        {
            throw new InvalidOperationException(
                $"DrainAsync was called on pool '{_name}' from inside one of its own jobs, and would wait for that job forever. Drain the pool from outside its jobs.");
        }

        _runs.StartDraining();
        return DrainCoreAsync(cancellationToken);
    }

    private async Task DrainCoreAsync(CancellationToken cancellationToken)
    {
        while (await WaitUnlessCanceledAsync(_runs.WhenEmptyAsync(), cancellationToken).ConfigureAwait(false))
        {
            // No run is left. Workers still there are retiring, or run jobs of runs that have already thrown their
            // shutdown timeout; the drain's token ends this wait too.
            if (!await WaitUnlessCanceledAsync(WhenNoWorkersAsync(), cancellationToken).ConfigureAwait(false))
            {
                break;
            }

            // Such a job may have started a nested run meanwhile, and returned without waiting for it: wait for it too.
            if (_runs.Count == 0)
            {
                return;
            }
        }

        // The runs did not finish in time: cancel them, and wait until their work has stopped, at most ShutdownTimeout.
        Run[] runs = _runs.Snapshot();
        _stopReason ??= "drained";
        CancelInBackground(_disposeCts);
        if (await WaitForShutdownAsync(runs).ConfigureAwait(false) is { } report)
        {
            throw ShutdownTimeoutExceeded(run: null, report, innerException: null);
        }
    }

    /// <summary>Waits for <paramref name="task"/>, which never faults, unless <paramref name="cancellationToken"/> is cancelled first. Returns whether it completed.</summary>
    private static async ValueTask<bool> WaitUnlessCanceledAsync(Task task, CancellationToken cancellationToken)
    {
        if (!task.IsCompleted)
        {
            await task.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        return task.IsCompleted;
    }

    /// <summary>
    /// Cancels every run on the pool and waits until every worker and internal loop has ended.
    /// </summary>
    /// <returns>
    /// A task that completes once the pool holds no task at all, or once <see cref="WorkerPoolOptions.ShutdownTimeout"/>
    /// has passed with jobs that ignore cancellation still running. It never faults: such jobs are logged at Error level,
    /// by index, and stay visible in <see cref="WorkerPoolDiagnostics"/> and <see cref="GetStatistics"/> until they
    /// return. Call <see cref="DrainAsync"/> first to have them reported by exception. An asynchronous job source that a
    /// cancelled run let go of, and that still has not answered, is not waited for: it is given 200 ms more, and then
    /// logged at Warning level (<c>SourceSilentAtDisposal</c>) unless it was reported already.
    /// </returns>
    /// <remarks>
    /// Thread-safe and idempotent: concurrent and repeated calls share one disposal; a repeated call waits for stuck jobs
    /// once more. Runs that are cancelled by disposal end as cancelled: <c>RunAsync</c> and <c>StreamAsync</c> with
    /// <see cref="WorkerPoolCanceledException{TJob, TResult}"/>, <c>SubmitAsync</c> with an <see cref="OperationCanceledException"/>.
    /// After disposal, <c>RunAsync</c>, <c>StreamAsync</c>, <c>SubmitAsync</c> and <c>DrainAsync</c> throw
    /// <see cref="ObjectDisposedException"/>. Called from inside one of the pool's own jobs, it starts the disposal and
    /// returns at once: it cannot wait for the job that calls it.
    /// </remarks>
    public ValueTask DisposeAsync()
    {
        if (_runs.Close(out Run[] runs))
        {
            _scheduler.MarkDisposed();
            int runningJobs = _scheduler.CountRunningJobs();
            if (runs.Length > 0 || runningJobs > 0)
            {
                Log.DisposedWithWorkInFlight(_logger, _name, runs.Length, runningJobs);
            }

            _stopReason ??= "disposed";
            CancelInBackground(_disposeCts);
        }

        Task disposal = DisposeCoreAsync(runs);
        if (JobScope.FindLiveMark(this) is not null)
        {
            // Called from inside one of the pool's own jobs: the disposal would wait for the job that waits for it. It
            // goes on without this caller, and still logs the jobs that outlast ShutdownTimeout; a call from outside
            // the jobs waits for it.
            return ValueTask.CompletedTask;
        }

        return new ValueTask(disposal);
    }

    /// <summary>
    /// Disposes the pool as <see cref="DisposeAsync"/> does, blocking the calling thread until it completes: until the
    /// pool holds no task, or until <see cref="WorkerPoolOptions.ShutdownTimeout"/> has passed with jobs that ignore
    /// cancellation. Prefer <see cref="DisposeAsync"/>; this is for containers and callers that can only dispose
    /// synchronously. Never throws.
    /// </summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task DisposeCoreAsync(Run[] runs)
    {
        if (await WaitForShutdownAsync(runs).ConfigureAwait(false) is { } report)
        {
            // Logs each stuck job, and each stuck source, at Error level; the exception itself is not thrown.
            _ = ShutdownTimeoutExceeded(run: null, report, innerException: null);
        }

        await ReportSilentSourcesAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Waits for <see cref="ShutdownAsync"/>, at most ShutdownTimeout on the options' clock. Returns
    /// <see langword="null"/> if it completed; otherwise what held it (<see cref="StuckWorkAsync"/>).
    /// </summary>
    private async Task<ShutdownReport?> WaitForShutdownAsync(Run[] runs)
    {
        Task shutdown = ShutdownAsync(runs);
        if (_options.ShutdownTimeout == Timeout.InfiniteTimeSpan)
        {
            await shutdown.ConfigureAwait(false);
            return null;
        }

        Task waited = shutdown.WaitAsync(_options.ShutdownTimeout, _options.TimeProvider);
        await waited.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _ = waited.Exception;
        return shutdown.IsCompleted ? null : await StuckWorkAsync(shutdown, [shutdown], run: null, runs).ConfigureAwait(false);
    }

    /// <summary>
    /// Completes once every internal loop of the given runs has ended and then no worker is left. Once the runs'
    /// producers have ended no job can be queued, so no worker can start after this completes.
    /// </summary>
    private async Task ShutdownAsync(Run[] runs)
    {
        foreach (Run run in runs)
        {
            await run.WhenLoopsEndedAsync().ConfigureAwait(false);
        }

        await WhenNoWorkersAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Cancels <paramref name="cts"/>. Callbacks registered on its token, including the jobs' own, run on the thread
    /// pool, never inline on the worker, consumer or disposer that decided to cancel. The sources cancelled here, the
    /// pool's own and its runs', are never disposed.
    /// </summary>
    private static void CancelInBackground(CancellationTokenSource cts)
    {
        Task canceling = cts.CancelAsync();

        // A throwing callback belongs to the job that registered it; keep it from going unobserved.
        if (canceling.IsCompleted)
        {
            _ = canceling.Exception;
        }
        else
        {
            canceling.ContinueWith(
                static t => _ = t.Exception,
                CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    /// <summary>
    /// A job's text for messages, from <see cref="WorkerPoolOptions.JobFormatter"/>; <see langword="null"/> without one, or
    /// if it throws: messages then name the job by run and index only.
    /// </summary>
    internal string? DescribeJob(TJob? job)
    {
        if (_options.JobFormatter is not { } format)
        {
            return null;
        }

        try
        {
            return format(job);
        }
#pragma warning disable CA1031 // A faulty formatter loses its own text, nothing else.
        catch (Exception)
#pragma warning restore CA1031
        {
            return null;
        }
    }

    private long _lastRunId;

    /// <summary>A new run's id: unique within the pool, in the order runs start.</summary>
    internal long NextRunId() => Interlocked.Increment(ref _lastRunId);

    /// <summary>Lists the jobs executing now, optionally only those of one run.</summary>
    private List<RunningJobInfo> SnapshotRunningJobs(Run? run)
    {
        var running = new List<RunningJobInfo>();
        long now = _options.TimeProvider.GetTimestamp();
        foreach (WorkerSlotBase? slot in _scheduler.Slots)
        {
            if (slot is WorkerSlot worker && worker.TryDescribe(run, _name, now, out RunningJobInfo info))
            {
                running.Add(info);
            }
        }

        running.Sort(static (a, b) => a.Index.CompareTo(b.Index));
        return running;
    }

    /// <summary>
    /// After a wait for <paramref name="work"/> (of <paramref name="run"/>, or at a drain or disposal of
    /// <paramref name="runs"/>) has timed out: <see langword="null"/> if the work has stopped after all (every one of
    /// <paramref name="parts"/> is complete); otherwise what held it, seen at one moment: the jobs executing and the
    /// sources still blocked are listed first, and the work looked at second, so that what returns meanwhile is still
    /// named, and the report never names nothing because its job or its source returned a moment later.
    /// </summary>
    /// <remarks>
    /// With no job executing and no source blocked, what holds the work is outside the jobs: most often a worker between
    /// its job's end and its leaving the run, which is bookkeeping, or a pool waking its thread late. It is given
    /// <see cref="LeavingGrace"/>, on the system clock (this is scheduling, not the options' clock). A job that starts
    /// meanwhile (its worker took it just before the run was cancelled) is named then; work still held after the grace is
    /// held by something else, such as a logger or a metrics listener a worker called, and the report says so.
    /// </remarks>
    private async Task<ShutdownReport?> StuckWorkAsync(Task work, Task[] parts, Run? run, Run[]? runs)
    {
        var report = new ShutdownReport(SnapshotRunningJobs(run), StuckSources(run, runs));
        if (AllCompleted(parts))
        {
            return null;
        }

        if (report.HeldOutsideJobs)
        {
            Task left = work.WaitAsync(LeavingGrace, TimeProvider.System);
            await left.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _ = left.Exception;
            report = new ShutdownReport(SnapshotRunningJobs(run), StuckSources(run, runs));
            if (AllCompleted(parts))
            {
                return null;
            }
        }

        return report;

        static bool AllCompleted(Task[] parts) => Array.TrueForAll(parts, static part => part.IsCompleted);
    }

    /// <summary>What held the work when ShutdownTimeout elapsed: the jobs still executing, and the runs whose source was still blocked.</summary>
    private sealed record ShutdownReport(List<RunningJobInfo> RunningJobs, List<Run> StuckSources)
    {
        /// <summary>Whether neither a job nor a source held the work.</summary>
        public bool HeldOutsideJobs => RunningJobs.Count == 0 && StuckSources.Count == 0;
    }

    /// <summary>A run's work that did not stop within ShutdownTimeout: the task of its stopping, and what held it.</summary>
    private readonly record struct StuckWork(Task Work, ShutdownReport Report);

    /// <summary>How long work that no job and no source holds, past ShutdownTimeout, is given to stop.</summary>
    private static readonly TimeSpan LeavingGrace = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The runs whose source is still blocked: of <paramref name="run"/>, or of <paramref name="runs"/> and the runs still
    /// ending.
    /// </summary>
    private List<Run> StuckSources(Run? run, Run[]? runs)
    {
        // A run that timed out may be in both lists: it enters the ending runs before it leaves the runs.
        IEnumerable<Run> holders = run is null ? (runs ?? []).Union(SnapshotEndingRuns()) : [run];
        return [.. holders.Where(static holder => !holder.Producer.IsCompleted)];
    }

    /// <summary>
    /// Builds, and logs at Error level, the exception naming what ignored cancellation, from <paramref name="report"/>
    /// (<see cref="StuckWorkAsync"/>): the jobs still running, and the job sources still blocked.
    /// </summary>
    private WorkerPoolShutdownTimeoutException ShutdownTimeoutExceeded(Run? run, ShutdownReport report, Exception? innerException)
    {
        double shutdownTimeoutMs = _options.ShutdownTimeout.TotalMilliseconds;
        foreach (RunningJobInfo job in report.RunningJobs)
        {
            double elapsedMs = job.Elapsed.TotalMilliseconds;
            Log.ShutdownTimeoutExceeded(_logger, _name, job.RunId, job.Index, elapsedMs, shutdownTimeoutMs);
        }

        foreach (Run stuck in report.StuckSources)
        {
            Log.SourceIgnoredShutdown(_logger, _name, stuck.Id, shutdownTimeoutMs);
        }

        if (report.HeldOutsideJobs)
        {
            Log.WorkHeldPastShutdown(_logger, _name, run?.Id ?? 0, shutdownTimeoutMs);
        }

        return new WorkerPoolShutdownTimeoutException(
            _name, _options.ShutdownTimeout, report.RunningJobs, report.StuckSources.Count, report.HeldOutsideJobs, innerException);
    }

    /// <summary>
    /// Keeps the pool from rest until <see cref="ReleaseRest"/>: <paramref name="run"/> returned past ShutdownTimeout and
    /// counts its last jobs once its stuck work returns.
    /// </summary>
    private void HoldRest(Run run)
    {
        lock (_sync)
        {
            _endingRuns.Add(run);
        }

        _scheduler.HoldRest();
    }

    /// <summary>Ends <see cref="HoldRest"/> once <paramref name="run"/> has counted its last jobs.</summary>
    private void ReleaseRest(Run run)
    {
        Debug.Assert(!_runs.Contains(run, run.Id), "A run lets the pool come to rest only after its end has counted the jobs it took back.");
        lock (_sync)
        {
            _endingRuns.Remove(run);
        }

        _scheduler.ReleaseRest();
    }

    private Run[] SnapshotEndingRuns()
    {
        lock (_sync)
        {
            return [.. _endingRuns];
        }
    }
}
