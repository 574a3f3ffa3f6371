using System.Diagnostics;
using System.Threading.Tasks.Sources;

namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>
    /// The run of a SubmitAsync call: one job, written to the queue by the caller itself (a producer task only when it has
    /// to wait in line for room), whose outcome
    /// completes the value task SubmitAsync returns (this object is its source). See docs/design.md, "Who owns each task".
    /// </summary>
    /// <remarks>
    /// Two ways end it, and exactly one of them owns the end (<see cref="TryOwnEnd"/>):
    /// <list type="bullet">
    /// <item>the fast way: the job's outcome is published and neither the caller nor the pool cancelled the submission.
    /// The last of two parties, the caller once it has written the job and registered for cancellation, and the count of
    /// the outcome, ends the run and completes the value task, without a finish;</item>
    /// <item>cancellation by its caller's token or by the pool (disposal, or a drain that ran out of time): a registration
    /// on each starts the same finish as RunAsync's (<see cref="FinishSubmissionAsync"/>), which
    /// takes the job out of the queue if it is still there, waits for its worker otherwise, and reports as SubmitAsync
    /// always has.</item>
    /// </list>
    /// </remarks>
    private sealed class Submission : Run, IValueTaskSource<TResult>
    {
        // Continuations run on the thread pool, never inline in the worker that completes the submission.
        private ManualResetValueTaskSourceCore<TResult> _core = new() { RunContinuationsAsynchronously = true };

        // The submission's progress, one bit each (changed with Interlocked.Or, which returns what was there before), and
        // from StatusShift up the published outcome's status.
        private const int CallerArrived = 1;    // the caller's part of the fast way: the job written, the links made
        private const int OutcomeArrived = 2;   // the other part: the outcome published and counted
        private const int OutcomePublished = 4; // a worker published the job's outcome
        private const int EndOwned = 8;         // one of the two ways to end owns the end
        private const int Completed = 16;       // the value task is complete
        private const int CompletedCanceled = 32; // ...with a cancellation: only then is it Canceled, whatever the exception
        private const int Unqueued = 64;        // the wait in line was cancelled: the job, in _job, never started
        private const int StatusShift = 8;
        private int _state;

        // The job's outcome, once a worker published it: all of it but its index, which is 0, and its status, in _state.
        // Or the job itself, if it was never queued.
        private TJob? _job;
        private TResult? _value;
        private Exception? _error;
        private TimeSpan _duration;

        // For the pool's disposal: null while nobody waits for the end, a wait once somebody does, Ended once it came.
        private static readonly TaskCompletionSource EndedMark = new();
        private TaskCompletionSource? _ended;

        internal Submission(BoundedWorkerPool<TJob, TResult> pool, CancellationToken callerToken)
            : base(pool, callerToken)
        {
        }

        internal ValueTask<TResult> ValueTask => new(this, _core.Version);

        /// <summary>Whether a worker published the job's outcome.</summary>
        internal bool HasOutcome => (Volatile.Read(ref _state) & OutcomePublished) != 0;

        /// <summary>The job's outcome; read only once <see cref="HasOutcome"/>.</summary>
        internal JobResult<TJob, TResult> Outcome =>
            // Stryker disable once Bitwise : the state is never negative, so both shifts agree
            new(0, _job!, (JobStatus)(Volatile.Read(ref _state) >> StatusShift), _value, _error, _duration);

        internal override void Publish(in JobResult<TJob, TResult> result)
        {
            Debug.Assert(result.Index == 0, "A submission's one job has index 0.");
            _job = result.Job;
            _value = result.Value;
            _error = result.Error;
            _duration = result.Duration;
            Interlocked.Or(ref _state, OutcomePublished | ((int)result.Status << StatusShift));
        }

        /// <summary>The wait in line, once: keeps the job, which was never queued.</summary>
        internal override void KeepUnqueued(ReadOnlySpan<QueuedJob> jobs)
        {
            Debug.Assert(jobs.Length == 1 && jobs[0].Index == 0, "A submission has one job, with index 0.");
            _job = jobs[0].Job;
            Interlocked.Or(ref _state, Unqueued);
        }

        protected override long TakeBackUnqueued(Action<JobResult<TJob, TResult>>? sink)
        {
            if ((Interlocked.And(ref _state, ~Unqueued) & Unqueued) == 0)
            {
                return 0;
            }

            sink?.Invoke(new QueuedJob(_job!, 0).NeverStarted());
            return 1;
        }

        /// <summary>Its one job, pulled before it is written.</summary>
        internal override long Pulled => 1;

        /// <summary>Its one job, if it failed or timed out: read once the run has ended.</summary>
        internal override long Unsuccessful =>
            HasOutcome && Outcome.Status is JobStatus.Failed or JobStatus.TimedOut ? 1 : 0;

        // Told by its outcome's status.
        internal override void CountUnsuccessful()
        {
        }

        /// <summary>Its one job runs on one slot, which is the run's first.</summary>
        protected override ExecutionContext ContextForAnotherSlot(WorkerSlot slot) =>
            throw new InvalidOperationException("A submission's one job ran on a second worker slot.");

        /// <summary>
        /// The caller, once the job is written (or waits in line) and <see cref="Run.Producer"/> is set: registers for
        /// cancellation by its own token and the pool's, then says the source is exhausted (if the job is written) and that
        /// its part of the fast way is done.
        /// </summary>
        internal void Submitted(bool written)
        {
            // On the tokens that cancel a submission from outside: the caller's and the pool's. (A job's failure in
            // StopOnFirstError stops the run too, but that job's outcome is then the submission's, as on the fast way.)
            // Each link cancels the run and starts its finish. Registered on those long-lived sources, a registration
            // costs no allocation of its own; the end of the submission removes them. Until then the job's token is not
            // linked, but nothing decides on it alone: every check of cancellation reads the caller's and the pool's
            // tokens too (Run.IsCanceled).
            Link();

            // A cancellation may have ended the submission, and removed its registrations, before they were stored. Each
            // side writes, then reads the other's write, with a full fence: either the end sees the registrations, or
            // this sees the end and removes them itself (a second removal does nothing).
            if ((Interlocked.Or(ref _state, 0) & EndOwned) != 0)
            {
                Unlink();
            }

            if (written)
            {
                SourceExhausted();
            }

            ArriveFast(CallerArrived);
        }

        /// <summary>
        /// A cancellation by the caller or the pool starts the submission's finish on the thread pool, before the job's
        /// token is cancelled (inline by the caller's link, <see cref="Run.CancelFromLink"/>). The run's own stop (its failure) leaves the
        /// end to the fast way: the failed job's outcome is the submission's.
        /// </summary>
        protected override void OnStopRequested(bool fromOutside)
        {
            if (fromOutside)
            {
                // Stryker disable once Boolean : preferLocal is a scheduling hint
                ThreadPool.UnsafeQueueUserWorkItem(static submission => submission.Pool.OnSubmissionCanceled(submission), this, preferLocal: false);
            }
        }

        /// <summary>Whether the caller or the pool cancelled the submission.</summary>
        private bool CanceledFromOutside => CanceledByCaller || Pool._disposeCts.IsCancellationRequested;

        // Both the producer's last word and a worker's count may see every outcome written: the first one arrives.
        protected override void MarkAllWritten() => ArriveFast(OutcomeArrived);

        /// <summary>
        /// One of the two parties of the fast way arrives, once (a second arrival does nothing); the last one ends the
        /// submission unless it was cancelled from outside.
        /// </summary>
        private void ArriveFast(int party)
        {
            int before = Interlocked.Or(ref _state, party);
            bool last = (before & party) == 0 && (before & (CallerArrived | OutcomeArrived) & ~party) != 0;
            if (last && !CanceledFromOutside && TryOwnEnd())
            {
                Pool.EndSubmissionFast(this);
            }
        }

        /// <summary>Claims the end of the submission: true for the first of the two ways to ask, false for the other.</summary>
        internal bool TryOwnEnd() => (Interlocked.Or(ref _state, EndOwned) & EndOwned) == 0;

        /// <summary>Completes SubmitAsync with the job's outcome, as SubmitAsync reports it.</summary>
        internal void CompleteWith(in JobResult<TJob, TResult> outcome)
        {
            switch (outcome.Status)
            {
                case JobStatus.Succeeded:
                    if (TryComplete())
                    {
                        _core.SetResult(outcome.Value!);
                        SignalEnded();
                    }

                    break;
                case JobStatus.Canceled:
                    // Cancelled by its caller or by the pool: a cancellation, whatever exception the job unwound with.
                    CompleteCanceled(Canceled(
                        outcome.Error ?? new OperationCanceledException(),
                        (outcome.Error as OperationCanceledException)?.CancellationToken ?? default));
                    break;
                default:
                    CompleteFaulted(outcome.Error!);
                    break;
            }
        }

        /// <summary>The exception SubmitAsync is cancelled with, naming the pool and why it was cancelled.</summary>
        internal SubmissionCanceledException Canceled(Exception innerException, CancellationToken token) =>
            new($"The job submitted to pool '{Pool._name}' was cancelled{Pool.CancellationReason(this)}.", innerException, token);

        /// <summary>Completes SubmitAsync Canceled with <paramref name="canceled"/>.</summary>
        internal void CompleteCanceled(OperationCanceledException canceled)
        {
            if (TryComplete(CompletedCanceled))
            {
                _core.SetException(canceled);
                SignalEnded();
            }
        }

        /// <summary>Completes SubmitAsync Faulted with <paramref name="error"/>, even if it is a cancellation of the job's own.</summary>
        internal void CompleteFaulted(Exception error)
        {
            if (TryComplete())
            {
                _core.SetException(error);
                SignalEnded();
            }
        }

        /// <summary>Claims the completion of the value task, marked with <paramref name="how"/>: true for the first claim.</summary>
        private bool TryComplete(int how = 0) => (Interlocked.Or(ref _state, Completed | how) & Completed) == 0;

        // The end is signalled once the value task is complete, not when the run leaves the pool.
        internal override void MarkEnded()
        {
        }

        private void SignalEnded()
        {
            if (Interlocked.Exchange(ref _ended, EndedMark) is { } waiting && waiting != EndedMark)
            {
                waiting.TrySetResult();
            }
        }

        /// <summary>For the pool's disposal: completes once the wait in line, if any, and the submission have ended.</summary>
        internal override Task WhenLoopsEndedAsync()
        {
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            TaskCompletionSource? seen = Interlocked.CompareExchange(ref _ended, ended, null);
            if (seen == EndedMark)
            {
                return Producer;
            }

            // A second waiter waits for the first one's signal.
            return Task.WhenAll(Producer, (seen ?? ended).Task);
        }

        TResult IValueTaskSource<TResult>.GetResult(short token) => _core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<TResult>.GetStatus(short token)
        {
            // The core calls every OperationCanceledException a cancellation: a job's own is a failure.
            ValueTaskSourceStatus status = _core.GetStatus(token);
            return status == ValueTaskSourceStatus.Canceled && (Volatile.Read(ref _state) & CompletedCanceled) == 0
                ? ValueTaskSourceStatus.Faulted
                : status;
        }

        void IValueTaskSource<TResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    /// <summary>
    /// Writes a submission's one job to the queue from the caller's thread, or, if the queue is full or others wait before
    /// it, starts the wait in line as the submission's producer.
    /// </summary>
    private void Submit(Submission submission, TJob job)
    {
        var queued = new QueuedJob(job, 0);
        bool written = _queue.TryWrite(submission, queued);
        if (written)
        {
            _scheduler.EnsureWorkers();
        }
        else
        {
            submission.Producer = EnqueueSubmissionAsync(submission, queued);
        }

        submission.Submitted(written);
    }

    /// <summary>The producer of a submission that found no room: waits in line with its job. Never throws.</summary>
    private async Task EnqueueSubmissionAsync(Submission submission, QueuedJob queued)
    {
        var waiter = new JobQueue<Run, QueuedJob>.Waiter();

        // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: the wait ends on the thread pool, with no context
        if (!await _queue.WriteAsync(submission, queued, waiter, submission.Token).ConfigureAwait(false))
        {
            submission.KeepUnqueued([queued]);
            return;
        }

        _scheduler.EnsureWorkers();
        submission.SourceExhausted();
    }

    /// <summary>The fast way: the job's outcome is published, and nobody cancelled the submission. Ends the run, then completes it.</summary>
    private void EndSubmissionFast(Submission submission)
    {
        Debug.Assert(submission.HasOutcome, "A submission ends the fast way only with its job's outcome.");
        submission.Unlink();
        EndRun(submission, stopped: true, neverStarted: 0, completed: true);
        submission.CompleteWith(submission.Outcome);
    }

    /// <summary>From a cancellation by the caller or the pool, on the thread pool: finishes the submission unless the fast way ended it.</summary>
    private void OnSubmissionCanceled(Submission submission)
    {
        if (submission.TryOwnEnd())
        {
            _ = FinishSubmissionAsync(submission);
        }
    }

    /// <summary>
    /// The finish of a cancelled submission, as RunAsync's: stops the run, takes its job out of the queue or waits for
    /// its worker (at most ShutdownTimeout), and completes SubmitAsync with the job's outcome if it ended anyway, or with
    /// the cancellation, the run's failure, or the shutdown timeout. Never throws.
    /// </summary>
    private async Task FinishSubmissionAsync(Submission submission)
    {
        try
        {
            // The end is owned here: a cancellation that comes now has nothing left to do.
            submission.Unlink();
            var outcomes = new List<JobResult<TJob, TResult>>(1);
            if (await FinishAndEndAsync(submission, completed: false, outcomes.Add).ConfigureAwait(false) is { } ending)
            {
                submission.CompleteFaulted(ending);
                return;
            }

            // The job's outcome, if a worker published it; otherwise the one the finish wrote for a job that never started.
            if (submission.HasOutcome)
            {
                outcomes.Insert(0, submission.Outcome);
            }

            switch (RunError(submission, completed: false, outcomes))
            {
                // The job may have finished despite the cancellation: then its outcome wins.
                case WorkerPoolCanceledException<TJob, TResult> canceled when submission.Failure is null:
                    if (outcomes.Count == 0 || outcomes[0].Status == JobStatus.Canceled)
                    {
                        submission.CompleteCanceled(submission.Canceled(canceled, canceled.CancellationToken));
                    }
                    else
                    {
                        submission.CompleteWith(outcomes[0]);
                    }

                    break;
                case { } error:
                    submission.CompleteFaulted(error);
                    break;
                default:
                    submission.CompleteWith(outcomes[0]);
                    break;
            }
        }
#pragma warning disable CA1031 // The submission's caller must hear of whatever went wrong here, and nobody else would.
        catch (Exception exception)
#pragma warning restore CA1031
        {
            submission.CompleteFaulted(exception);
        }
    }
}
