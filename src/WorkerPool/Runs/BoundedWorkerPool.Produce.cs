using System.Buffers;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>
    /// The most jobs a producer pulls from an in-memory collection before it writes them to the queue under one lock, or,
    /// while the queue is full, waits in line with together (at most <see cref="JobQueue{TOwner, TItem}.MaxWaitingBatch"/>):
    /// one wake-up for all of them, where one per job would cost a thread-pool hop each while many runs wait, and a
    /// caller's jobs stay together in line, as behind a semaphore that each caller enters once for all its jobs.
    /// </summary>
    private const int MaxBatch = 32;

    /// <summary>
    /// The producer of a run over a synchronous source. Pulls jobs only once there is room for them. From an in-memory
    /// collection, as many at a time as the queue has room for (and the run has credits for), at most
    /// <see cref="MaxBatch"/>, written under one lock, and while the queue is full, up to as many, waiting in line with them
    /// together; from any other source, one at a time, waiting in line with it when there is no room. Ends
    /// when the source is exhausted, throws, or the run is cancelled. Never throws.
    /// </summary>
    private async Task ProduceAsync(SourceRun run, IEnumerable<TJob> source)
    {
        CancellationToken token = run.Token;
        IEnumerator<TJob>? jobs = null;
        QueuedJob[]? batch = null;
        int count = 0;
        bool failed = false;
        try
        {
            // Only an in-memory collection (one that knows its count) is pulled several jobs ahead. Any other source may
            // block in MoveNext until an earlier job has run (a work list fed by its own jobs, a blocking collection),
            // so each of its jobs is written before the next is pulled.
            int batchLimit = source.TryGetNonEnumeratedCount(out _) ? MaxBatch : 1;
            jobs = source.GetEnumerator();
            int credits = 0;
            while (true)
            {
                if (credits == 0)
                {
                    // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context
                    credits = await run.TakeCreditsAsync(MaxBatch).ConfigureAwait(false);
                    if (credits == 0)
                    {
                        return;
                    }
                }
                else if (token.IsCancellationRequested)
                {
                    return;
                }

                // When the queue is full, up to MaxWaitingBatch jobs (one from a source that is not in memory): the
                // producer then waits in line with them.
                int room = _queue.FreeRoom;
                int wanted = Math.Min(credits, Math.Min(batchLimit, room > 0 ? room : _queue.MaxWaitingBatch));
                // Rented once per run, for the largest batch: a run of a few jobs must not pay for an array of its own.
                // Stryker disable once Assignment : renting a new array for each batch only costs memory
                batch ??= ArrayPool<QueuedJob>.Shared.Rent(MaxBatch);

                bool exhausted = false;
                while (count < wanted)
                {
                    if (!jobs.MoveNext())
                    {
                        exhausted = true;
                        break;
                    }

                    // Current first: if it throws, the slot it would have filled holds no pulled job.
                    QueuedJob pulled = run.Pull(jobs.Current);
                    batch[count++] = pulled;
                }

                credits -= count;
                int written = count;
                count = 0;
                // Stryker disable once Boolean,Statement : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context; after a cancelled enqueue the next take of credits returns 0, so the return only saves a step
                if (written > 0 && !await EnqueueAsync(run, batch, written).ConfigureAwait(false))
                {
                    return;
                }

                if (exhausted)
                {
                    run.SourceExhausted();
                    return;
                }
            }
        }
        catch (Exception exception)
        {
            failed = true;

            // Jobs pulled before the source threw are never queued: the run stops.
            if (count > 0)
            {
                run.KeepUnqueued(batch.AsSpan(0, count));
            }

            OnSourceException(run, exception, token);
        }
        finally
        {
            if (batch is not null)
            {
                // Cleared when jobs hold references, so that the pool keeps none of them alive.
                // Stryker disable once Statement : returning the array to the shared pool only saves memory
                ArrayPool<QueuedJob>.Shared.Return(batch, RuntimeHelpers.IsReferenceOrContainsReferences<QueuedJob>());
            }

            // Disposed outside the try above: the source's own exception is the run's error, not a cleanup error after it.
            if (jobs is not null)
            {
                try
                {
                    jobs.Dispose();
                }
                catch (Exception exception)
                {
                    OnSourceDisposeException(run, exception, failed, token);
                }
            }
        }
    }

    /// <summary>
    /// The producer of a run over an asynchronous source. Like the synchronous one, and in addition it never waits on a
    /// source that ignores the run's token: once the run is cancelled, a pending MoveNextAsync is abandoned, and the
    /// source is disposed when that call finally returns.
    /// </summary>
    private async Task ProduceAsync(SourceRun run, IAsyncEnumerable<TJob> source)
    {
        CancellationToken token = run.Token;
        IAsyncEnumerator<TJob>? jobs = null;
        QueuedJob[] one = new QueuedJob[1];
        bool failed = false;
        try
        {
            jobs = source.GetAsyncEnumerator(token);
            // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context
            while (await run.TakeCreditsAsync(1).ConfigureAwait(false) > 0)
            {
                ValueTask<bool> next = jobs.MoveNextAsync();
                bool more;
                if (next.IsCompleted)
                {
                    more = next.GetAwaiter().GetResult();
                }
                else
                {
                    Task<bool> pending = next.AsTask();
                    Task waited = pending.WaitAsync(token);
                    await waited.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    _ = waited.Exception;
                    if (!pending.IsCompleted)
                    {
                        // The run is cancelled and the source has not answered yet. One that honours the token answers a
                        // moment later, on its own continuation; one that ignores it may never answer. The run waits for
                        // neither: the watch disposes the source once it answers, and reports it only if it has not
                        // answered within ShutdownTimeout, or answers with a job that nobody will take.
                        _ = DisposeWhenDoneAsync(pending, jobs, new AbandonedSource(_logger, _name, _abandonedSources, _abandonedSources.Add(run.Id, pending), _options.ShutdownTimeout, _options.TimeProvider));
                        jobs = null;
                        return;
                    }

                    // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context
                    more = await pending.ConfigureAwait(false);
                }

                if (!more)
                {
                    run.SourceExhausted();
                    return;
                }

                // Stryker disable once Boolean,Statement : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context; after a cancelled enqueue the next TakeCreditAsync returns false, so the return only saves a step
                one[0] = run.Pull(jobs.Current);
                if (!await EnqueueAsync(run, one, 1).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        catch (Exception exception)
        {
            failed = true;
            OnSourceException(run, exception, token);
        }
        finally
        {
            if (jobs is not null)
            {
                try
                {
                    // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context
                    await jobs.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception exception)
                {
                    OnSourceDisposeException(run, exception, failed, token);
                }
            }
        }
    }

    /// <summary>
    /// Disposes an abandoned source once its pending MoveNextAsync returns. Nobody waits for this. It logs
    /// <c>SourceIgnoredCancellation</c> if the source has not answered within a finite, positive ShutdownTimeout (unless the
    /// pool's disposal has reported it first), and <c>SourceYieldedAfterCancellation</c> if it answers with a job. It
    /// holds the pool's logger, clock and set of abandoned sources, not the pool.
    /// </summary>
    private static async Task DisposeWhenDoneAsync(Task<bool> pending, IAsyncEnumerator<TJob> jobs, AbandonedSource abandoned)
    {
        if (abandoned.ShutdownTimeout > TimeSpan.Zero && abandoned.ShutdownTimeout != Timeout.InfiniteTimeSpan)
        {
            await ((Task)pending).WaitAsync(abandoned.ShutdownTimeout, abandoned.Time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!pending.IsCompleted && abandoned.Entry.TryTakeReport())
            {
                Log.SourceIgnoredCancellation(abandoned.Logger, abandoned.PoolName, abandoned.Entry.RunId, abandoned.ShutdownTimeout.TotalMilliseconds);
            }
        }

        await ((Task)pending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        abandoned.Set.Remove(abandoned.Entry);
        _ = pending.Exception;
        if (pending.IsCompletedSuccessfully && pending.Result)
        {
            Log.SourceYieldedAfterCancellation(abandoned.Logger, abandoned.PoolName, abandoned.Entry.RunId);
        }

        try
        {
            // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context
            await jobs.DisposeAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The run this source belonged to has ended: there is no one left to report to.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    /// <summary>
    /// Reports, once each, the abandoned sources still silent when the pool is disposed: after ShutdownTimeout none of
    /// them is reported by (an infinite or zero one, or a finite one that has not passed yet), they are the last that
    /// anyone hears of them. Each is first given <see cref="LeavingGrace"/> on the system clock, as work outside the jobs
    /// is: a source that honours its token answers a moment after the cancellation, on its own continuation.
    /// </summary>
    private async Task ReportSilentSourcesAsync()
    {
        AbandonedSources.Entry[] silent = Array.FindAll(_abandonedSources.Snapshot(), static entry => !entry.Reported);
        if (silent.Length == 0)
        {
            return;
        }

        Task answered = Task.WhenAll(Array.ConvertAll(silent, static entry => entry.Pending));
        if (!answered.IsCompleted)
        {
            Task waited = answered.WaitAsync(LeavingGrace, TimeProvider.System);
            await waited.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _ = waited.Exception;
        }

        _ = answered.Exception;
        foreach (AbandonedSources.Entry entry in silent)
        {
            if (!entry.Pending.IsCompleted && entry.TryTakeReport())
            {
                Log.SourceSilentAtDisposal(_logger, _name, entry.RunId);
            }
        }
    }

    /// <summary>What the watch of an abandoned source reports with, and its ShutdownTimeout on the pool's clock.</summary>
    private sealed record AbandonedSource(ILogger Logger, string PoolName, AbandonedSources Set, AbandonedSources.Entry Entry, TimeSpan ShutdownTimeout, TimeProvider Time);

    /// <summary>
    /// An exception from the source stops the run, unless it is the run's own cancellation coming back: a cancellation
    /// while the run, its caller or the pool is cancelled. (The caller's token is checked too: the run's linked token is
    /// cancelled a moment after it.)
    /// </summary>
    private void OnSourceException(Run run, Exception exception, CancellationToken token)
    {
        if (exception is OperationCanceledException && (token.IsCancellationRequested || run.IsCanceled))
        {
            return;
        }

        if (run.TryFail(exception))
        {
            Log.SourceFailed(_logger, _name, run.Id, exception);
        }
    }

    /// <summary>
    /// An exception from disposing the source. After the source's own failure, the root cause stays the run's error and
    /// this one is logged; otherwise it is the source's failure.
    /// </summary>
    private void OnSourceDisposeException(Run run, Exception exception, bool sourceFailed, CancellationToken token)
    {
        if (sourceFailed)
        {
            Log.SourceDisposeFailed(_logger, _name, run.Id, exception);
            return;
        }

        OnSourceException(run, exception, token);
    }

    /// <summary>
    /// Queues the first <paramref name="count"/> pulled jobs of <paramref name="batch"/> in the pool queue, in order: as
    /// many as there is room for under one lock, the rest waiting (cancellably) in line together, at most
    /// <see cref="JobQueue{TOwner, TItem}.MaxWaitingBatch"/> at a time. Makes sure workers will take them. Returns
    /// <see langword="false"/> if the run was cancelled meanwhile; the run then keeps the jobs not queued, and its finish
    /// records them as never started.
    /// </summary>
    private ValueTask<bool> EnqueueAsync(SourceRun run, QueuedJob[] batch, int count)
    {
        int written = _queue.TryWriteMany(run, batch.AsSpan(0, count));
        if (written > 0)
        {
            _scheduler.EnsureWorkers(written);
        }

        return written == count ? new ValueTask<bool>(true) : EnqueueWhenRoomAsync(run, batch, written, count);
    }

    // Pooled: a producer waits for room once per batch of jobs, and a box per wait would be an allocation.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> EnqueueWhenRoomAsync(SourceRun run, QueuedJob[] batch, int next, int count)
    {
        // Stryker disable once Assignment : a new waiter for each wait only costs an allocation; the last wait has ended
        run.RoomWaiter ??= new JobQueue<Run, QueuedJob>.Waiter();
        while (next < count)
        {
            // The jobs left wait in line together, at most MaxWaitingBatch at a time: after each admission the producer
            // goes to the back of the line, so that producers that wait together take turns.
            int together = Math.Min(count - next, _queue.MaxWaitingBatch);
            // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context
            if (!await _queue.WriteAllAsync(run, batch, next, together, run.RoomWaiter, run.Token).ConfigureAwait(false))
            {
                run.KeepUnqueued(batch.AsSpan(next, count - next));
                return false;
            }

            _scheduler.EnsureWorkers(together);
            next += together;
        }

        return true;
    }
}
