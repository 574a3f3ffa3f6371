using System.Runtime.CompilerServices;

namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>
    /// The producer of a run over a synchronous source. Pulls one job at a time, and only once there is room for it.
    /// Ends when the source is exhausted, throws, or the run is cancelled. Never throws.
    /// </summary>
    private async Task ProduceAsync(Run run, IEnumerable<TJob> source)
    {
        CancellationToken token = run.Token;
        IEnumerator<TJob>? jobs = null;
        bool failed = false;
        try
        {
            jobs = source.GetEnumerator();
            // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context
            while (await TakeCreditAsync(run).ConfigureAwait(false))
            {
                if (!jobs.MoveNext())
                {
                    run.SourceExhausted();
                    return;
                }

                // Stryker disable once Boolean,Statement : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context; after a cancelled enqueue the next TakeCreditAsync returns false, so the return only saves a step
                if (!await EnqueueAsync(run, jobs.Current).ConfigureAwait(false))
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
    private async Task ProduceAsync(Run run, IAsyncEnumerable<TJob> source)
    {
        CancellationToken token = run.Token;
        IAsyncEnumerator<TJob>? jobs = null;
        bool failed = false;
        try
        {
            jobs = source.GetAsyncEnumerator(token);
            // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context
            while (await TakeCreditAsync(run).ConfigureAwait(false))
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
                        Log.SourceIgnoredCancellation(_logger, _name, run.Id);
                        _ = DisposeWhenDoneAsync(pending, jobs);
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
                if (!await EnqueueAsync(run, jobs.Current).ConfigureAwait(false))
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

    /// <summary>Disposes an abandoned source once its pending MoveNextAsync returns. Nobody waits for this.</summary>
    private static async Task DisposeWhenDoneAsync(Task<bool> pending, IAsyncEnumerator<TJob> jobs)
    {
        await ((Task)pending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _ = pending.Exception;
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
    /// An exception from the source stops the run, unless it is the run's own cancellation coming back: a cancellation
    /// while the run, its caller or the pool is cancelled. (The caller's token is checked too: the run's linked token is
    /// cancelled a moment after it.)
    /// </summary>
    private void OnSourceException(Run run, Exception exception, CancellationToken token)
    {
        if (exception is OperationCanceledException && (token.IsCancellationRequested || run.IsCancellationRequested))
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
    /// Waits, for StreamAsync runs, until one more job may be pulled without outrunning the consumer.
    /// Returns <see langword="false"/> once the run is cancelled.
    /// </summary>
    private static ValueTask<bool> TakeCreditAsync(Run run)
    {
        if (run.Token.IsCancellationRequested)
        {
            return new ValueTask<bool>(false);
        }

        // A window's wait ends when the consumer gives credits back, or when the run's cancellation closes it.
        return run.Window is { } window ? window.TakeAsync() : new ValueTask<bool>(true);
    }

    /// <summary>
    /// Queues a pulled job in the pool queue, waiting (cancellably) while the queue is full, and makes sure a worker
    /// will take it. Returns <see langword="false"/> if the run was cancelled meanwhile; the run then keeps the job, and
    /// its finish records it as never started.
    /// </summary>
    private ValueTask<bool> EnqueueAsync(Run run, TJob job)
    {
        long index = run.Pulled;
        run.Collector?.EnsureSlot(index);
        run.Pulled = index + 1;
        var queued = new QueuedJob(job, index);
        if (!_queue.TryWrite(run, queued))
        {
            return EnqueueWhenRoomAsync(run, queued);
        }

        EnsureWorker();
        return new ValueTask<bool>(true);
    }

    // Pooled: a producer waits for room once per half a queue of jobs, and a box per wait would be an allocation.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> EnqueueWhenRoomAsync(Run run, QueuedJob queued)
    {
        run.RoomWaiter ??= new JobQueue<Run, QueuedJob>.Waiter();

        // Stryker disable once Boolean : ConfigureAwait(true) is equivalent: the producer runs on the thread pool (TaskScheduler.Default), with no context
        if (!await _queue.WriteAsync(run, queued, run.RoomWaiter, run.Token).ConfigureAwait(false))
        {
            run.KeepUnqueued(queued);
            return false;
        }

        EnsureWorker();
        return true;
    }
}
