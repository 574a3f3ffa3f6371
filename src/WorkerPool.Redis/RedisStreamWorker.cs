using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using WorkerPool.Redis.Internal;

namespace WorkerPool.Redis;

/// <summary>
/// One competing consumer of a Redis stream: reads jobs with a <see cref="RedisStreamSource{TJob}"/>, runs them on a
/// <see cref="BoundedWorkerPool{TJob, TResult}"/>, and settles each message from its outcome. Run one per process (or
/// several, with different consumer names); the consumer group shares the messages among them.
/// </summary>
/// <typeparam name="TJob">The type of the job.</typeparam>
/// <typeparam name="TResult">The type of the job's result.</typeparam>
/// <remarks>
/// <para>
/// Delivery is at least once: a message is acknowledged only after its job succeeded, so a process that dies, a
/// connection that drops before the acknowledgement, or a takeover from a worker that stopped heart-beating for longer
/// than <see cref="RedisStreamOptions.ClaimMinIdleTime"/> while still running the job can run a job twice. Make
/// <c>work</c> idempotent, or deduplicate by <see cref="RedisStreamMessage{TJob}.Id"/>.
/// </para>
/// <para>
/// Ownership: <see cref="RunAsync"/> builds the pool, owns it, and disposes it before it returns, so no job of the
/// worker runs after <see cref="RunAsync"/> has completed. Thread-safety: one <see cref="RunAsync"/> at a time;
/// <see cref="GetStatistics"/> from any thread.
/// </para>
/// </remarks>
public sealed class RedisStreamWorker<TJob, TResult>
{
    // The most ids one XACK carries.
    private const int MaxAcknowledgementBatch = 256;

    private readonly Func<RedisStreamMessage<TJob>, CancellationToken, ValueTask<TResult>> _work;
    private readonly WorkerPoolOptions _poolOptions;
    private readonly ILoggerFactory? _loggerFactory;
    private readonly RedisStreamSource<TJob> _source;
    private int _running;

    /// <summary>Creates a worker. Nothing is read until <see cref="RunAsync"/> is called.</summary>
    /// <param name="database">The Redis database that holds the stream, such as <c>multiplexer.GetDatabase()</c>.</param>
    /// <param name="work">The work to do for one message; its token is cancelled when the worker stops or the job times out.</param>
    /// <param name="options">The stream settings; <see langword="null"/> for the defaults. Validated and copied.</param>
    /// <param name="poolOptions">
    /// The pool's settings; <see langword="null"/> for the defaults. The worker holds at most
    /// <see cref="WorkerPoolOptions.QueueCapacity"/> + <see cref="WorkerPoolOptions.MaxWorkers"/> messages, so a
    /// small queue leaves more messages to the other processes. <see cref="WorkerPoolOptions.ErrorMode"/> must be
    /// <see cref="ErrorMode.Collect"/>: a failure is settled, never a reason to stop.
    /// </param>
    /// <param name="serializer">Reads the jobs; <see langword="null"/> for <see cref="JsonRedisJobSerializer{TJob}"/>.</param>
    /// <param name="loggerFactory">Where the worker and its pool log; <see langword="null"/> for no logging.</param>
    /// <exception cref="ArgumentNullException"><paramref name="database"/> or <paramref name="work"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it and its value.</exception>
    /// <exception cref="ArgumentException">A name or key is empty, or the pool's error mode is not <see cref="ErrorMode.Collect"/>.</exception>
    public RedisStreamWorker(
        IDatabase database,
        Func<RedisStreamMessage<TJob>, CancellationToken, ValueTask<TResult>> work,
        RedisStreamOptions? options = null,
        WorkerPoolOptions? poolOptions = null,
        IRedisJobSerializer<TJob>? serializer = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(work);
        poolOptions ??= new WorkerPoolOptions();
        PoolOptionsRules.Check(poolOptions);
        _work = work;
        _poolOptions = poolOptions;
        _loggerFactory = loggerFactory;
        long maxOutstanding = (long)poolOptions.QueueCapacity + poolOptions.MaxWorkers;
        _source = new RedisStreamSource<TJob>(database, (int)Math.Min(maxOutstanding, int.MaxValue), options, serializer, loggerFactory);
    }

    /// <summary>Gets the most messages this worker holds at once: the pool's <c>QueueCapacity + MaxWorkers</c>.</summary>
    /// <value>The bound on this consumer's unacknowledged messages.</value>
    public int MaxOutstanding => _source.MaxOutstanding;

    /// <summary>Takes a snapshot of the worker's counters.</summary>
    /// <returns>The counters of the worker's source.</returns>
    public RedisStreamStatistics GetStatistics() => _source.GetStatistics();

    /// <summary>
    /// Reads, runs and settles messages until <paramref name="cancellationToken"/> is cancelled. Jobs that had not
    /// started, and jobs that were running, are left pending to be delivered again; the outcomes already known are
    /// settled before the call returns, each tried once (a settlement that fails for lack of a connection is not tried
    /// again once the token is cancelled: its message stays pending). Call it again after it ended, however it ended: the
    /// next run takes back this consumer's pending messages first.
    /// </summary>
    /// <param name="cancellationToken">Stops the worker.</param>
    /// <returns>
    /// A task that ends, once no job and no Redis read of the worker is in flight any more, with the cancellation or with
    /// the failure that stopped it.
    /// </returns>
    /// <exception cref="InvalidOperationException">The worker is already running.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A pool option is out of range (the pool checks them when this call builds it).</exception>
    /// <exception cref="OperationCanceledException">(From the task.) <paramref name="cancellationToken"/> was cancelled: the normal way to stop.</exception>
    /// <exception cref="RedisConnectionException">
    /// (From the task.) Redis stayed unreachable for longer than <see cref="RedisStreamOptions.ConnectionRetryTimeout"/>.
    /// Nothing is lost: every message not acknowledged stays pending in Redis. When the heartbeat is what gave up, the
    /// run stops at once and its jobs are cancelled, even while the pool is full and does not read. Other consumers may
    /// have taken their messages over already: see <see cref="RedisStreamOptions.ConnectionRetryTimeout"/> for how the two
    /// timeouts compare.
    /// </exception>
    /// <exception cref="RedisTimeoutException">(From the task.) As above, with timeouts.</exception>
    /// <exception cref="RedisServerException">
    /// (From the task.) Redis refused a command, such as a dead letter on a key that holds another type. Its message
    /// stays pending. A refusal that names a passing state of the server (BUSY, LOADING, READONLY and the like; see
    /// <see cref="RedisStreamOptions.ConnectionRetryTimeout"/>) is retried as a lost connection is, and ends the run
    /// only once that timeout has passed.
    /// </exception>
    public Task RunAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled(cancellationToken);
        }

        if (Interlocked.Exchange(ref _running, 1) == 1)
        {
            throw new InvalidOperationException("The worker is already running; call RunAsync once at a time.");
        }

        BoundedWorkerPool<RedisStreamMessage<TJob>, TResult> pool;
        try
        {
            pool = new(_work, _poolOptions, _loggerFactory);
        }
        catch
        {
            Volatile.Write(ref _running, 0);
            throw;
        }

        return RunCoreAsync(pool, cancellationToken);
    }

    private async Task RunCoreAsync(BoundedWorkerPool<RedisStreamMessage<TJob>, TResult> pool, CancellationToken cancellationToken)
    {
        // Stops the run as soon as the heartbeat gives up: other consumers may take over the messages this worker holds
        // (RedisStreamOptions.ConnectionRetryTimeout says when, against ClaimMinIdleTime), so its jobs are cancelled
        // rather than left running. The pool links the caller's token and this one itself (as the enumerator's token),
        // and lets go of both without waiting for a callback, so a job whose callback on its token blocks does not hold
        // the call. The settlements' waits observe this token, which the caller's cancellation reaches too. It is
        // cancelled with CancelAsync (CancelObserved), so no callback runs on the caller's thread or on the heartbeat's
        // task; and it is never disposed: such a callback may still run once the call has ended, and a token source
        // without a timer or a link has nothing to release that a collection does not.
        var stop = new CancellationTokenSource();
        CancellationTokenRegistration forward = cancellationToken.UnsafeRegister(static state => CancelObserved((CancellationTokenSource)state!), stop);
        var heartbeat = new HeartbeatWatch(stop);
        var acknowledgements = new List<string>();
        try
        {
            await using (pool.ConfigureAwait(false))
            {
                IAsyncEnumerator<JobResult<RedisStreamMessage<TJob>, TResult>> outcomes =
                    pool.StreamAsync(_source.WithHeartbeatFailure(heartbeat.Failed), cancellationToken).GetAsyncEnumerator(stop.Token);
                try
                {
                    while (true)
                    {
                        // Successes are acknowledged together: those that are ready at once wait for the next one that is
                        // not, and go in one XACK while it is on its way (or once a batch is full).
                        ValueTask<bool> move = outcomes.MoveNextAsync();
                        if (acknowledgements.Count > 0 && (!move.IsCompletedSuccessfully || acknowledgements.Count >= MaxAcknowledgementBatch))
                        {
                            await _source.AcknowledgeAsync(acknowledgements, stop.Token).ConfigureAwait(false);
                            acknowledgements.Clear();
                        }

                        if (!await move.ConfigureAwait(false))
                        {
                            break;
                        }

                        JobResult<RedisStreamMessage<TJob>, TResult> outcome = outcomes.Current;
                        if (_source.IsAcknowledgedBy(outcome))
                        {
                            acknowledgements.Add(outcome.Job.Id);
                        }
                        else
                        {
                            // The successes gathered so far go first: a settlement that fails must not take them with it.
                            await _source.AcknowledgeAsync(acknowledgements, stop.Token).ConfigureAwait(false);
                            acknowledgements.Clear();
                            await _source.SettleAsync(outcome, stop.Token).ConfigureAwait(false);
                        }
                    }

                    // The source ended (a Redis source never does by itself): what is gathered still goes.
                    await _source.AcknowledgeAsync(acknowledgements, stop.Token).ConfigureAwait(false);
                }
                catch (WorkerPoolCanceledException<RedisStreamMessage<TJob>, TResult> canceled)
                {
                    // The run has stopped: settle what finished before the stop; the rest is left pending. Each settlement is
                    // tried once even though the token is cancelled; one that fails for lack of a connection is not tried
                    // again, and ends the call with the cancellation, leaving its message and the rest pending.
                    Debug.Assert(acknowledgements.Count == 0, "Successes are sent before a move that does not succeed at once is awaited.");
                    foreach (JobResult<RedisStreamMessage<TJob>, TResult> outcome in canceled.Results)
                    {
                        await _source.SettleAsync(outcome, stop.Token).ConfigureAwait(false);
                    }

                    throw;
                }
                finally
                {
                    // With a move still pending (an acknowledgement failed while it waited), this stops the run and waits
                    // for its work to stop.
                    await outcomes.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && heartbeat.Failure is { } failure)
        {
            // Stopped by the heartbeat, not by the caller: the call ends with what cut the worker off from Redis.
            ExceptionDispatchInfo.Throw(failure);
        }
        catch (OperationCanceledException canceled) when (cancellationToken.IsCancellationRequested && canceled.CancellationToken != cancellationToken)
        {
            // The caller cancelled, but what ended the call observed the stop token (a settlement's wait to retry, or the
            // pool's stop by the heartbeat just before): the call ends with the caller's token, as a cancelled call does.
            throw canceled is WorkerPoolCanceledException<RedisStreamMessage<TJob>, TResult> run
                ? new WorkerPoolCanceledException<RedisStreamMessage<TJob>, TResult>(run.Message, run.Results, cancellationToken)
                : new OperationCanceledException(canceled.Message, canceled, cancellationToken);
        }
        finally
        {
            // The pool gives up on a read the stop caught in flight, and disposes the source's enumerator once that read
            // returns: the worker waits for it, so that nothing it started outlives the call. Then no outcome of this run can
            // be settled any more, and the messages still held stay pending in Redis for the next run to take back.
            await _source.WhenNotEnumeratingAsync().ConfigureAwait(false);
            await forward.DisposeAsync().ConfigureAwait(false);
            _source.ReleaseHeld();
            Volatile.Write(ref _running, 0);
        }
    }

    /// <summary>What the heartbeat of a run reported: the failure that made it give up.</summary>
    private sealed class HeartbeatWatch(CancellationTokenSource stop)
    {
        private Exception? _failure;

        /// <summary>Gets the failure, once the heartbeat gave up.</summary>
        public Exception? Failure => Volatile.Read(ref _failure);

        /// <summary>
        /// Called by the heartbeat, once, on its task, before the enumeration can end: stops the run, with the callbacks
        /// (the pool's, the jobs') on the thread pool.
        /// </summary>
        public void Failed(Exception failure)
        {
            Volatile.Write(ref _failure, failure);
            CancelObserved(stop);
        }
    }

    /// <summary>
    /// Cancels <paramref name="stop"/> with the callbacks on the thread pool, and observes what they throw: a job's own
    /// callback, which the pool's link runs inline, belongs to that job, and must not surface later as an unobserved task
    /// exception.
    /// </summary>
    private static void CancelObserved(CancellationTokenSource stop) =>
        _ = stop.CancelAsync().ContinueWith(
            static canceling => _ = canceling.Exception,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
}
