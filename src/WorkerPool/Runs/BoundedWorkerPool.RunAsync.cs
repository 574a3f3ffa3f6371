using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>
    /// Runs every job of <paramref name="jobs"/> through the pool and returns one outcome per job, in input order.
    /// </summary>
    /// <param name="jobs">The jobs. Enumerated lazily, once, on a pool task, as queue room frees up.</param>
    /// <param name="cancellationToken">Cancels the run: jobs not yet started never start, and running jobs see their token cancelled.</param>
    /// <returns>
    /// A task that completes once every job has ended and no <c>work</c> call of this run is executing (past a finite
    /// <see cref="WorkerPoolOptions.ShutdownTimeout"/>, jobs that ignore cancellation are left running, and the task
    /// faults with <see cref="WorkerPoolShutdownTimeoutException"/>). Its result
    /// holds exactly one <see cref="JobResult{TJob, TResult}"/> per job, in input order. In <see cref="ErrorMode.Collect"/>,
    /// failed jobs are outcomes too, never exceptions.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="jobs"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool has been disposed.</exception>
    /// <exception cref="InvalidOperationException">The pool is draining (<see cref="DrainAsync"/>), and the call does not come from inside one of its jobs.</exception>
    /// <exception cref="WorkerPoolCanceledException{TJob, TResult}">
    /// (From the task.) The run was cancelled by <paramref name="cancellationToken"/>, by disposal of the pool, or by a
    /// <see cref="DrainAsync"/> whose token was cancelled. The exception
    /// carries the outcome of every job pulled from the source, in input order. A token that is already cancelled gives a
    /// cancelled task instead, and nothing is started.
    /// </exception>
    /// <exception cref="Exception">
    /// (From the task.) In <see cref="ErrorMode.StopOnFirstError"/>, the first failed job's own exception; and in either mode,
    /// the exception the source threw. Thrown only once all work of the run has stopped.
    /// </exception>
    /// <exception cref="WorkerPoolShutdownTimeoutException">
    /// (From the task.) <see cref="WorkerPoolOptions.ShutdownTimeout"/> is finite and jobs ignored cancellation for longer than it.
    /// </exception>
    /// <remarks>
    /// Thread-safe: any number of runs may share the pool at once, within its one bound. Every job runs in the
    /// ExecutionContext captured by this call (its <c>AsyncLocal</c> values, <c>Activity.Current</c>, logging scopes),
    /// and the source is enumerated in it; a caller that suppressed flow gets the default context.
    /// </remarks>
    public Task<IReadOnlyList<JobResult<TJob, TResult>>> RunAsync(IEnumerable<TJob> jobs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ThrowIfDisposed();
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<IReadOnlyList<JobResult<TJob, TResult>>>(cancellationToken);
        }

        // Allocated before the run starts: if this throws, nothing has started.
        var run = new CollectingRun(this, new ResultCollector<TJob, TResult>(CountHint(jobs)), cancellationToken);
        StartRun(run, run => ProduceAsync(run, jobs));
        return run.SetConsumer(CollectAsync(run).Unwrap());
    }

    /// <summary>
    /// How many jobs <paramref name="jobs"/> holds, if it can tell without enumerating; 0 otherwise, and if it throws:
    /// the producer asks again, and a source's exception is the run's error, from the task.
    /// </summary>
    private static int CountHint(IEnumerable<TJob> jobs)
    {
        try
        {
            return jobs.TryGetNonEnumeratedCount(out int count) ? count : 0;
        }
#pragma warning disable CA1031 // Any exception of the source's own is reported by the producer, which meets it again.
        catch (Exception)
#pragma warning restore CA1031
        {
            return 0;
        }
    }

    /// <summary>
    /// Runs every job of the asynchronous source <paramref name="jobs"/> through the pool and returns one outcome per job,
    /// in input order.
    /// </summary>
    /// <param name="jobs">
    /// The jobs. Enumerated lazily, once, with the run's token. A source that ignores that token does not hold up a
    /// cancelled run: the run ends without it, and the source is disposed when its pending call returns.
    /// </param>
    /// <param name="cancellationToken">Cancels the run: jobs not yet started never start, and running jobs see their token cancelled.</param>
    /// <returns>
    /// A task that completes once every job has ended and no <c>work</c> call of this run is executing (past a finite
    /// <see cref="WorkerPoolOptions.ShutdownTimeout"/>, jobs that ignore cancellation are left running, and the task
    /// faults with <see cref="WorkerPoolShutdownTimeoutException"/>). Its result
    /// holds exactly one <see cref="JobResult{TJob, TResult}"/> per job, in input order.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="jobs"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool has been disposed.</exception>
    /// <exception cref="InvalidOperationException">The pool is draining (<see cref="DrainAsync"/>), and the call does not come from inside one of its jobs.</exception>
    /// <exception cref="WorkerPoolCanceledException{TJob, TResult}">
    /// (From the task.) The run was cancelled; the exception carries the outcome of every job pulled from the source.
    /// A token that is already cancelled gives a cancelled task instead, and nothing is started.
    /// </exception>
    /// <exception cref="Exception">
    /// (From the task.) In <see cref="ErrorMode.StopOnFirstError"/>, the first failed job's own exception; and in either mode,
    /// the exception the source threw. Thrown only once all work of the run has stopped.
    /// </exception>
    /// <exception cref="WorkerPoolShutdownTimeoutException">
    /// (From the task.) <see cref="WorkerPoolOptions.ShutdownTimeout"/> is finite and jobs ignored cancellation for longer than it.
    /// </exception>
    /// <remarks>
    /// Thread-safe: any number of runs may share the pool at once, within its one bound. Every job runs in the
    /// ExecutionContext captured by this call, and the source is enumerated in it.
    /// </remarks>
    public Task<IReadOnlyList<JobResult<TJob, TResult>>> RunAsync(IAsyncEnumerable<TJob> jobs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ThrowIfDisposed();
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<IReadOnlyList<JobResult<TJob, TResult>>>(cancellationToken);
        }

        var run = new CollectingRun(this, new ResultCollector<TJob, TResult>(expected: 0), cancellationToken);
        StartRun(run, run => ProduceAsync(run, jobs));
        return run.SetConsumer(CollectAsync(run).Unwrap());
    }

    /// <summary>
    /// Runs every job of <paramref name="jobs"/> through the pool and yields each outcome as it becomes available: in
    /// completion order, or in input order when <see cref="WorkerPoolOptions.PreserveOrder"/> is set.
    /// </summary>
    /// <param name="jobs">The jobs. Enumerated lazily, once, and only while the consumer keeps up (see remarks).</param>
    /// <param name="cancellationToken">Cancels the run. A token passed to <c>WithCancellation</c> cancels it too.</param>
    /// <returns>
    /// A sequence that starts the run when it is first enumerated. Stopping early, by <c>break</c>, by an exception in the
    /// loop, or by disposing the enumerator, cancels the run, and disposal returns only once the run's work has stopped.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="jobs"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool has been disposed (also from the first <c>MoveNextAsync</c>).</exception>
    /// <exception cref="InvalidOperationException">(From the first <c>MoveNextAsync</c>.) The pool is draining, and the enumeration does not come from inside one of its jobs.</exception>
    /// <exception cref="WorkerPoolCanceledException{TJob, TResult}">
    /// (From <c>MoveNextAsync</c>.) The run was cancelled; the exception carries the outcomes not yet yielded, in input order.
    /// A token already cancelled when enumeration starts throws <see cref="OperationCanceledException"/>, and nothing is started.
    /// </exception>
    /// <exception cref="Exception">
    /// (From <c>MoveNextAsync</c>.) In <see cref="ErrorMode.StopOnFirstError"/>, the first failed job's own exception; and in
    /// either mode, the exception the source threw. Thrown only once all work of the run has stopped.
    /// </exception>
    /// <exception cref="WorkerPoolShutdownTimeoutException">
    /// (From <c>MoveNextAsync</c> or <c>DisposeAsync</c>.) Jobs ignored cancellation for longer than a finite
    /// <see cref="WorkerPoolOptions.ShutdownTimeout"/>.
    /// </exception>
    /// <remarks>
    /// At most <see cref="WorkerPoolOptions.QueueCapacity"/> + <see cref="WorkerPoolOptions.MaxWorkers"/> jobs of one
    /// stream are pulled and not yet yielded, so a slow consumer holds back its own source and never a worker: other runs
    /// on the pool go on at full speed. Thread-safe: any number of runs may share the pool at once. The run starts, and
    /// captures its ExecutionContext, at the first <c>MoveNextAsync</c>, not at this call: every job runs in the context
    /// of the code that starts the enumeration, and the source is enumerated in it.
    /// </remarks>
    public IAsyncEnumerable<JobResult<TJob, TResult>> StreamAsync(IEnumerable<TJob> jobs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ThrowIfDisposed();
        return new StreamEnumerable(this, run => ProduceAsync(run, jobs), cancellationToken);
    }

    /// <summary>
    /// Runs every job of the asynchronous source <paramref name="jobs"/> through the pool and yields each outcome as it
    /// becomes available: in completion order, or in input order when <see cref="WorkerPoolOptions.PreserveOrder"/> is set.
    /// </summary>
    /// <param name="jobs">
    /// The jobs. Enumerated lazily, once, with the run's token, and only while the consumer keeps up. A source that ignores
    /// that token does not hold up a cancelled run.
    /// </param>
    /// <param name="cancellationToken">Cancels the run. A token passed to <c>WithCancellation</c> cancels it too.</param>
    /// <returns>
    /// A sequence that starts the run when it is first enumerated. Stopping early cancels the run, and disposal of the
    /// enumerator returns only once the run's work has stopped.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="jobs"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool has been disposed (also from the first <c>MoveNextAsync</c>).</exception>
    /// <exception cref="InvalidOperationException">(From the first <c>MoveNextAsync</c>.) The pool is draining, and the enumeration does not come from inside one of its jobs.</exception>
    /// <exception cref="WorkerPoolCanceledException{TJob, TResult}">
    /// (From <c>MoveNextAsync</c>.) The run was cancelled; the exception carries the outcomes not yet yielded, in input order.
    /// A token already cancelled when enumeration starts throws <see cref="OperationCanceledException"/>, and nothing is started.
    /// </exception>
    /// <exception cref="Exception">
    /// (From <c>MoveNextAsync</c>.) In <see cref="ErrorMode.StopOnFirstError"/>, the first failed job's own exception; and in
    /// either mode, the exception the source threw. Thrown only once all work of the run has stopped.
    /// </exception>
    /// <exception cref="WorkerPoolShutdownTimeoutException">
    /// (From <c>MoveNextAsync</c> or <c>DisposeAsync</c>.) Jobs ignored cancellation for longer than a finite
    /// <see cref="WorkerPoolOptions.ShutdownTimeout"/>.
    /// </exception>
    /// <remarks>
    /// Thread-safe: any number of runs may share the pool at once, within its one bound. The run starts, and captures
    /// its ExecutionContext, at the first <c>MoveNextAsync</c>: every job runs in the context of the code that starts the
    /// enumeration, and the source is enumerated in it.
    /// </remarks>
    public IAsyncEnumerable<JobResult<TJob, TResult>> StreamAsync(IAsyncEnumerable<TJob> jobs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ThrowIfDisposed();
        return new StreamEnumerable(this, run => ProduceAsync(run, jobs), cancellationToken);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_runs.IsDisposed, this);

    /// <summary>
    /// Registers a new run with the pool and starts its producer, or throws if the pool is disposed or draining. The
    /// producer task exists before the run is registered, so DisposeAsync always has it to wait for.
    /// </summary>
    private void StartRun(SourceRun run, Func<SourceRun, Task> produce)
    {
        var producer = new Task<Task>(() => produce(run), CancellationToken.None, TaskCreationOptions.DenyChildAttach);
        run.Producer = producer.Unwrap();
        Register(run);

        // The producer enumerates the source in the caller's context: Start captures it.
        producer.Start(TaskScheduler.Default);
    }

    /// <summary>
    /// Adds a new run to the pool's runs, or throws if the pool is disposed, or draining and the run is not nested in one
    /// of its jobs. A nested run's job lends its place in the bound while the run lasts.
    /// </summary>
    private void Register(Run run)
    {
        IJobMark? lender = JobScope.FindLiveMark(this);
        bool nested = lender is not null;
        RunAdmission admission = _runs.TryAdd(run, run.Id, nested);
        if (admission != RunAdmission.Admitted)
        {
            // Stryker disable once Statement : removes the links of a run that never started; not observable
            run.Release();
            ObjectDisposedException.ThrowIf(admission == RunAdmission.Disposed, this);
            throw new InvalidOperationException($"The pool '{_name}' is draining: it accepts no new runs.");
        }

        if (lender is not null)
        {
            // A job of this pool waits for this run: it lends its place in the bound while any run it started lasts, so
            // that their jobs (and whatever is queued before them) can run. The lent place may be needed at once.
            run.LentBy = lender;
            if (lender.EnterNested())
            {
                _scheduler.Lend();
            }
        }

        Log.RunStarted(_logger, _name, run.Id);
    }

    /// <summary>
    /// The consumer of a RunAsync call. Workers write outcomes straight into the run's collector; this only waits
    /// until the last one is written or the run is cancelled, then finishes the run. Its result is the task RunAsync
    /// returns (unwrapped): it never throws itself, so that a run that fails with an
    /// <see cref="OperationCanceledException"/> of a job's own ends Faulted, not Canceled.
    /// </summary>
    private async Task<Task<IReadOnlyList<JobResult<TJob, TResult>>>> CollectAsync(CollectingRun run)
    {
        ResultCollector<TJob, TResult> collected = run.Collector;

        // Not a wait on the run's token: a callback a job registered on it may block the callbacks after it.
        await run.ReadyToFinish.ConfigureAwait(false);

        // A stopping run may still have written every outcome (jobs it never started are written as Canceled): it
        // was cancelled all the same.
        bool completed = !run.IsStopping;
        Debug.Assert(!completed || run.Published == run.Pulled, "A run that is not stopping is ready to finish only once every outcome is written.");
        if (await FinishAndEndAsync(run, completed, collected.Add).ConfigureAwait(false) is { } ending)
        {
            // Jobs stuck past ShutdownTimeout may still write outcomes: the list is not read, the run throws.
            return Task.FromException<IReadOnlyList<JobResult<TJob, TResult>>>(ending);
        }

        IReadOnlyList<JobResult<TJob, TResult>> results = collected.ToList(run.Pulled);
        return RunError(run, completed, results) switch
        {
            null => Task.FromResult(results),
            OperationCanceledException canceled when run.Failure is null => CanceledTask<IReadOnlyList<JobResult<TJob, TResult>>>(canceled),
            Exception error => Task.FromException<IReadOnlyList<JobResult<TJob, TResult>>>(error),
        };
    }

    /// <summary>
    /// The end of every run, whatever its kind: finishes it (<see cref="Run.FinishAsync"/>: stops it unless it completed,
    /// and waits for its workers and producer, at most ShutdownTimeout), hands every outcome not yet consumed to
    /// <paramref name="sink"/> (<see cref="Run.DrainOutcomes"/>), and releases it (<see cref="EndRun"/>). Returns the
    /// exception the run must end with whatever else happened, or <see langword="null"/>: the shutdown timeout if a job
    /// is still executing; a failure if the outcomes do not add up to the jobs pulled, one outcome per job, each written
    /// by the job's worker or by the finish, never made up for a job that has not ended.
    /// </summary>
    private async Task<Exception?> FinishAndEndAsync(Run run, bool completed, Action<JobResult<TJob, TResult>>? sink)
    {
        StuckWork? stuck = await run.FinishAsync(completed).ConfigureAwait(false);
        bool stopped = stuck is null;
        long neverStarted = run.DrainOutcomes(sink);
        EndRun(run, stopped, neverStarted, completed);
        if (stuck is { } stuckWork)
        {
            try
            {
                return ShutdownTimeoutExceeded(run, stuckWork.Report, run.Failure);
            }
            finally
            {
                // Whatever happened above: until this is arranged, the run holds the pool from rest.
                run.EndAfterStuckWorkReturns(stuckWork.Work);
            }
        }

        long outcomes = run.Published + neverStarted;
        return outcomes == run.Pulled
            ? null
            : new InvalidOperationException($"The run on pool '{_name}' pulled {run.Pulled} job(s) but holds {outcomes} outcome(s).");
    }

    /// <summary>
    /// A task that is Canceled with <paramref name="canceled"/> itself, which its awaiters then catch. Nothing is thrown
    /// to make it: the builder of an async method stores an <see cref="OperationCanceledException"/> as the task's
    /// cancellation, as it does for one that escapes the method, so the caller's await is the only throw.
    /// </summary>
    private static Task<T> CanceledTask<T>(OperationCanceledException canceled)
    {
        var builder = AsyncTaskMethodBuilder<T>.Create();
        Task<T> task = builder.Task;
        builder.SetException(canceled);
        Debug.Assert(task.IsCanceled, "An OperationCanceledException makes the builder's task Canceled.");
        return task;
    }

    /// <summary>Releases a finished run's resources and its place in the pool, counts its never-started jobs, and logs its end.</summary>
    private void EndRun(Run run, bool stopped, long neverStarted, bool completed)
    {
        // Stryker disable once Equality : counting zero never-started jobs adds nothing
        if (neverStarted > 0)
        {
            CountNeverStarted(neverStarted);
        }

        if (stopped)
        {
            // Stryker disable once Statement : removes the run's links; not observable through the public API
            run.Release();
        }

        _runs.Remove(run, run.Id);

        if (run.LentBy is { } lender && lender.ExitNested())
        {
            // The job that waited for its nested runs holds its place again; a worker over the bound retires after its job.
            _scheduler.TakeBack();
        }

        run.MarkEnded();
        if (Log.IsEnabled(_logger, LogLevel.Debug))
        {
            string outcome = !stopped ? "ShutdownTimeout"
                : run.Failure is not null ? "Failed"
                : completed && run.Unsuccessful > 0 ? "CompletedWithFailures"
                : completed ? "Completed"
                : "Canceled";
            double elapsedMs = run.StartTimestamp == Run.NotTimed ? 0 : _options.TimeProvider.GetElapsedTime(run.StartTimestamp).TotalMilliseconds;
            Log.RunEnded(_logger, _name, run.Id, outcome, run.Pulled, run.Unsuccessful, elapsedMs);
        }
    }

    /// <summary>
    /// The exception a stopped run that did not complete ends with, in order of importance, or <see langword="null"/> if
    /// it completed: its root failure, then its cancellation (carrying <paramref name="outcomes"/>).
    /// </summary>
    private Exception? RunError(Run run, bool completed, IReadOnlyList<JobResult<TJob, TResult>> outcomes)
    {
        if (run.Failure is { } failure)
        {
            return failure;
        }

        if (completed)
        {
            return null;
        }

        string message = $"The run on pool '{_name}' was cancelled{CancellationReason(run)}; {outcomes.Count} outcome(s) are attached.";
        return new WorkerPoolCanceledException<TJob, TResult>(message, outcomes, run.CanceledToken);
    }

    /// <summary>Why a run was cancelled, as the end of a sentence: nothing when its caller cancelled it.</summary>
    private string CancellationReason(Run run) =>
        run.CanceledByCaller ? string.Empty
        : run is StreamingRun { AbandonedByConsumer: true } ? " because its stream's enumerator was disposed"
        : $" because the pool was {_stopReason ?? "disposed"}";
}
