using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using System.Threading.Tasks.Sources;

namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>What StreamAsync returns: each enumeration is a run of its own, started by its first MoveNextAsync.</summary>
    private sealed class StreamEnumerable(BoundedWorkerPool<TJob, TResult> pool, Func<SourceRun, Task> produce, CancellationToken callerToken)
        : IAsyncEnumerable<JobResult<TJob, TResult>>
    {
        public IAsyncEnumerator<JobResult<TJob, TResult>> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
            new StreamEnumerator(pool, produce, callerToken, cancellationToken);
    }

    /// <summary>
    /// The consumer of a StreamAsync call. Yields outcomes as workers publish them (reordered when PreserveOrder is
    /// set), gives credits back to the run's window as they are yielded, and finishes the run when the outcomes run out,
    /// when the run stops, or when the enumerator is disposed, even while a MoveNextAsync is pending.
    /// </summary>
    /// <remarks>
    /// One MoveNextAsync at a time, as for any enumerator. DisposeAsync may come at any time: with a MoveNextAsync
    /// pending, it stops the run, lets that call end (with the run's cancellation), then returns once the run's work has
    /// stopped. The state below is the consumer's own, guarded by <c>_gate</c> where DisposeAsync meets MoveNextAsync.
    /// </remarks>
    private sealed class StreamEnumerator(
        BoundedWorkerPool<TJob, TResult> pool,
        Func<SourceRun, Task> produce,
        CancellationToken callerToken,
        CancellationToken enumeratorToken) : IAsyncEnumerator<JobResult<TJob, TResult>>, IValueTaskSource<bool>
    {
        private readonly object _gate = new();

        // A move that does not complete at once is reported through this source, reused for every move (one at a time):
        // it ends as the core call ends, but Faulted, not Canceled, when it ends with the run's failure, which may be an
        // OperationCanceledException of a job's own or of the source's, as RunAsync's task reports it. (An async
        // method, and the core here, call every OperationCanceledException a cancellation.) Continuations run inline,
        // as they did on the core call's own source.
        private ManualResetValueTaskSourceCore<bool> _move;
        private ValueTask<bool> _inner;
        private bool _moveFailed;
        private Action? _onInnerCompleted;
        private StreamingRun? _run;
        private ReorderBuffer<TJob, TResult>? _reorder;
        private int _heldCredits;
        private bool _finished;

        // Guarded by _gate.
        private bool _moving;
        private bool _disposing;
        private TaskCompletionSource? _moveEnded;
        private Task? _disposal;

        public JobResult<TJob, TResult> Current { get; private set; }

        public ValueTask<bool> MoveNextAsync()
        {
            lock (_gate)
            {
                if (_disposing || _finished)
                {
                    return new ValueTask<bool>(false);
                }

                if (_moving)
                {
                    throw new InvalidOperationException("A MoveNextAsync call on this stream is still pending.");
                }

                _moving = true;
            }

            ValueTask<bool> inner = MoveNextCoreAsync();
            // Stryker disable once Block : the detour through the move source below ends a completed move the same way
            if (inner.IsCompletedSuccessfully)
            {
                return inner;
            }

            // _moveFailed is read only for a move that ended with an exception, and CompleteMove sets it for that move.
            _move.Reset();
            _inner = inner;
            if (inner.IsCompleted)
            {
                CompleteMove();
            }
            else
            {
                inner.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onInnerCompleted ??= CompleteMove);
            }

            return new ValueTask<bool>(this, _move.Version);
        }

        /// <summary>Once the core call has ended: ends the move the consumer waits for the same way.</summary>
        private void CompleteMove()
        {
            ValueTask<bool> inner = _inner;
            _inner = default;
            bool more;
            try
            {
                more = inner.GetAwaiter().GetResult();
            }
            catch (Exception exception)
            {
                _moveFailed = _run?.Failure is { } failure && ReferenceEquals(exception, failure);
                _move.SetException(exception);
                return;
            }

            _move.SetResult(more);
        }

        bool IValueTaskSource<bool>.GetResult(short token) => _move.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token)
        {
            ValueTaskSourceStatus status = _move.GetStatus(token);
            return status == ValueTaskSourceStatus.Canceled && _moveFailed ? ValueTaskSourceStatus.Faulted : status;
        }

        void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _move.OnCompleted(continuation, state, token, flags);

        // Pooled: a stream's consumer waits once per outcome it cannot take at once, and a box per wait would be its
        // only allocation.
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<bool> MoveNextCoreAsync()
        {
            try
            {
                StreamingRun run = _run ?? Start();
                ChannelReader<JobResult<TJob, TResult>> reader = run.Results.Reader;
                bool completed = false;
                while (true)
                {
                    // Once the run is stopping, nothing more is yielded: what is left goes into the exception.
                    if (run.IsStopping)
                    {
                        break;
                    }

                    if (_reorder is not null && _reorder.TryTakeNext(out JobResult<TJob, TResult> next))
                    {
                        return Yield(run, next);
                    }

                    if (reader.TryRead(out JobResult<TJob, TResult> result))
                    {
                        // The wake marker is not an outcome, whenever it is read: it only makes this loop look at
                        // IsStopping again. It is never yielded, and never enters the reorder buffer.
                        if (StreamingRun.IsWakeMarker(result))
                        {
                            continue;
                        }

                        if (_reorder is null)
                        {
                            return Yield(run, result);
                        }

                        _reorder.Add(result);
                        continue;
                    }

                    // Nothing to yield right now: give back every credit held, so the producer can keep the pipeline
                    // full while this waits. (Held credits are fewer than CreditBatch, so the producer never depends on
                    // them to make progress: this is for throughput, not liveness.)
                    // Stryker disable once Equality : returning held credits a little later changes throughput only
                    if (_heldCredits > 0)
                    {
                        run.Window.Release(_heldCredits);
                        _heldCredits = 0;
                    }

                    // No token here: the run's cancellation wakes this wait with a marker (StreamingRun.OnStopRequested), so a wait
                    // allocates nothing and a cancelled run throws nothing here.
                    if (!await reader.WaitToReadAsync().ConfigureAwait(false))
                    {
                        completed = !run.IsStopping;
                        break;
                    }
                }

                await FinishAsync(run, completed).ConfigureAwait(false);
                return false;
            }
            finally
            {
                TaskCompletionSource? moveEnded;
                lock (_gate)
                {
                    _moving = false;
                    moveEnded = _moveEnded;
                }

                moveEnded?.TrySetResult();
            }
        }

        private StreamingRun Start()
        {
            callerToken.ThrowIfCancellationRequested();
            enumeratorToken.ThrowIfCancellationRequested();

            // Allocated before the run starts: if this throws, nothing has started.
            _reorder = pool._options.PreserveOrder ? new ReorderBuffer<TJob, TResult>() : null;
            var run = new StreamingRun(pool, callerToken, enumeratorToken);
            pool.StartRun(run, produce);
            bool disposing;
            lock (_gate)
            {
                // Either DisposeAsync sees the run and stops it, or this sees DisposeAsync and stops it here.
                _run = run;
                disposing = _disposing;
            }

            if (disposing)
            {
                run.AbandonedByConsumer = true;
                run.RequestStop();
            }

            return run;
        }

        private bool Yield(StreamingRun run, JobResult<TJob, TResult> result)
        {
            // Counts the credit of the outcome about to be yielded, and gives a full batch of them back to the producer.
            if (++_heldCredits == run.CreditBatch)
            {
                run.Window.Release(run.CreditBatch);
                _heldCredits = 0;
            }

            Current = result;
            return true;
        }

        /// <summary>The run has ended or stopped with the consumer still reading: finish it and report how it ended.</summary>
        private async Task FinishAsync(StreamingRun run, bool completed)
        {
            _finished = true;
            var remaining = new List<JobResult<TJob, TResult>>();
            _reorder?.DrainTo(remaining);
            if (await pool.FinishAndEndAsync(run, completed, remaining.Add).ConfigureAwait(false) is { } ending)
            {
                throw ending;
            }

            Debug.Assert(!completed || remaining.Count == 0, "A completed stream left outcomes behind.");
            remaining.Sort(static (a, b) => a.Index.CompareTo(b.Index));
            if (pool.RunError(run, completed, remaining) is { } error)
            {
                throw error;
            }
        }

        /// <summary>
        /// Stops the run if it has not ended (break, an exception in the consumer's loop, or disposal before the end),
        /// and returns once its work has stopped. Outcomes nobody will read are dropped.
        /// </summary>
        public ValueTask DisposeAsync()
        {
            Task? pendingMove = null;
            StreamingRun? run;
            TaskCompletionSource disposal;
            lock (_gate)
            {
                if (_disposal is not null)
                {
                    // A repeated or concurrent call returns when the first one does: once the run's work has stopped.
                    return new ValueTask(_disposal);
                }

                _disposing = true;
                if (_moving)
                {
                    _moveEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    pendingMove = _moveEnded.Task;
                }

                run = _run;
                disposal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _disposal = disposal.Task;
            }

            return new ValueTask(DisposeAndSignalAsync(disposal, pendingMove, run));
        }

        private async Task DisposeAndSignalAsync(TaskCompletionSource disposal, Task? pendingMove, StreamingRun? run)
        {
            try
            {
                await DisposeCoreAsync(pendingMove, run).ConfigureAwait(false);
                disposal.SetResult();
            }
            catch (Exception exception)
            {
                // The first caller gets the exception from this task; later callers from the shared one.
                disposal.SetException(exception);
                _ = disposal.Task.Exception;
                throw;
            }
        }

        private async Task DisposeCoreAsync(Task? pendingMove, StreamingRun? run)
        {
            if (pendingMove is not null)
            {
                // A MoveNextAsync is pending: stop the run, which wakes it, and let it end with the run's cancellation.
                // (If it has not started the run yet, it sees the disposal itself when it does.)
                if (run is not null)
                {
                    run.AbandonedByConsumer = true;
                    run.RequestStop();
                }

                await pendingMove.ConfigureAwait(false);
            }

            lock (_gate)
            {
                run = _run;
            }

            if (run is null || _finished)
            {
                return;
            }

            _finished = true;
            run.AbandonedByConsumer = true;
            // Outcomes nobody will read are dropped. The enumerator is being disposed: this is the only place left to
            // report that jobs of this run are still executing.
            if (await pool.FinishAndEndAsync(run, completed: false, sink: null).ConfigureAwait(false) is { } ending)
            {
                throw ending;
            }
        }
    }
}
