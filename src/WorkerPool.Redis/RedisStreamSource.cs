using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using WorkerPool.Redis.Internal;

namespace WorkerPool.Redis;

/// <summary>
/// Reads jobs from a Redis stream as one consumer of a consumer group, as an <see cref="IAsyncEnumerable{T}"/> to feed
/// to <see cref="BoundedWorkerPool{TJob, TResult}.StreamAsync(IAsyncEnumerable{TJob}, CancellationToken)"/>, and settles
/// each message from its job's outcome with <see cref="CompleteAsync"/>.
/// </summary>
/// <typeparam name="TJob">The type of the job.</typeparam>
/// <remarks>
/// <para>
/// The source never holds more than <see cref="MaxOutstanding"/> messages: read (or claimed) and not yet settled,
/// whether still in its own hands, queued in the pool or running. Every read asks Redis for at most the room left, so
/// the messages it does not take stay in the stream for the other consumers. Give it the pool's
/// <c>QueueCapacity + MaxWorkers</c>, the most jobs <c>StreamAsync</c> pulls ahead of its consumer.
/// </para>
/// <para>
/// Each enumeration reads in this order: first this consumer's own pending messages, left by an earlier run with the
/// same <see cref="RedisStreamOptions.ConsumerName"/> (XREADGROUP from id 0); then, whenever they are due, its own
/// failed messages (XCLAIM to itself) and other consumers' messages idle for longer than
/// <see cref="RedisStreamOptions.ClaimMinIdleTime"/> (XAUTOCLAIM); then new messages (XREADGROUP &gt;), polling with
/// backoff while the stream is empty. A payload that cannot be deserialized goes to the dead-letter stream and is
/// never yielded.
/// </para>
/// <para>
/// While an enumeration runs, a heartbeat restarts the idle time in Redis of every message the source holds and still
/// owns, every third of <see cref="RedisStreamOptions.ClaimMinIdleTime"/>, without counting a delivery (an
/// owner-checked XCLAIM JUSTID). Redis counts idle time from the delivery, so without it a message waiting in the
/// pool's queue would look abandoned: other consumers would take it over and run it too, and this consumer's own
/// takeover scans would count deliveries for it until it was dead-lettered. The heartbeat stops when the enumeration
/// ends; from then on, what the source still holds may be taken over once it is idle for long enough. A heartbeat that
/// cannot reach Redis for longer than <see cref="RedisStreamOptions.ConnectionRetryTimeout"/> ends the enumeration with
/// that exception at its next step: at once while the enumeration polls for messages, or, while its consumer has no
/// room and does not ask for more, when it next does. (<see cref="RedisStreamWorker{TJob, TResult}"/> does not wait for
/// that step: it stops its run, and cancels its jobs, as soon as the heartbeat gives up.)
/// </para>
/// <para>
/// Thread-safety: one enumeration at a time; the next may start once the last one's enumerator is disposed.
/// <see cref="CompleteAsync"/> and <see cref="GetStatistics"/> may be called from any thread, concurrently with the
/// enumeration. A message the source yielded stays held, counted against <see cref="MaxOutstanding"/>, until its
/// outcome is passed to <see cref="CompleteAsync"/>, also after the enumeration ended: settle every outcome, or use
/// <see cref="RedisStreamWorker{TJob, TResult}"/>, which lets go of what its ended runs left unsettled.
/// </para>
/// </remarks>
public sealed class RedisStreamSource<TJob> : IAsyncEnumerable<RedisStreamMessage<TJob>>
{
    // KEYS[1] = stream, KEYS[2] = dead-letter stream; ARGV[1] = group, ARGV[2] = id, ARGV[3] = consumer, ARGV[4..] = the
    // dead letter's fields and values. An error in XADD ends the script before XACK. Returns 1 when it moved the message,
    // 0 when another consumer holds it, -1 when nobody does (it is acknowledged).
    private const string DeadLetterScript = """
        if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3]) == 0 then
            if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1) == 0 then
                return -1
            end
            return 0
        end
        redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
        return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
        """;

    private readonly IDatabase _database;
    private readonly RedisStreamOptions _options;
    private readonly IRedisJobSerializer<TJob> _serializer;
    private readonly ILogger _logger;
    private readonly RedisRetry _retry;
    private readonly OwnedClaim _claim;
    private readonly PendingLedger _ledger;
    private readonly RedisKey _stream;
    private readonly RedisKey _deadLetter;
    private readonly RedisValue _group;
    private readonly RedisValue _consumer;

    // The enumeration in progress, completed when it ends; null when there is none.
    private TaskCompletionSource? _enumeration;

    private long _read;
    private long _redelivered;
    private long _reclaimed;
    private long _acknowledged;
    private long _retried;
    private long _deadLettered;

    /// <summary>Creates a source. Nothing is read until it is enumerated.</summary>
    /// <param name="database">The Redis database that holds the stream.</param>
    /// <param name="maxOutstanding">
    /// The most messages the consumer may hold at once; use the pool's <c>QueueCapacity + MaxWorkers</c>.
    /// </param>
    /// <param name="options">The settings; <see langword="null"/> for the defaults. Validated and copied.</param>
    /// <param name="serializer">Reads the jobs; <see langword="null"/> for <see cref="JsonRedisJobSerializer{TJob}"/>.</param>
    /// <param name="loggerFactory">Where to log; <see langword="null"/> for no logging.</param>
    /// <exception cref="ArgumentNullException"><paramref name="database"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxOutstanding"/> is less than 1, or an option is out of range.</exception>
    /// <exception cref="ArgumentException">A name or key in the options is empty.</exception>
    public RedisStreamSource(
        IDatabase database,
        int maxOutstanding,
        RedisStreamOptions? options = null,
        IRedisJobSerializer<TJob>? serializer = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOutstanding, 1);
        _database = database;
        _options = (options ?? new RedisStreamOptions()).ValidateAndClone();
        _serializer = serializer ?? new JsonRedisJobSerializer<TJob>();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("WorkerPool.Redis.RedisStreamSource");
        _retry = new RedisRetry(_options.ConnectionRetryTimeout, _options.TimeProvider, _logger);
        _ledger = new PendingLedger(maxOutstanding, _options.TimeProvider);
        _stream = _options.StreamKey;
        _deadLetter = _options.EffectiveDeadLetterStreamKey;
        _group = _options.GroupName;
        _consumer = _options.ConsumerName;
        _claim = new OwnedClaim(_database, _retry, _stream, _group, _consumer);
    }

    /// <summary>Gets the most messages this consumer holds at once.</summary>
    /// <value>The <c>maxOutstanding</c> given to the constructor.</value>
    public int MaxOutstanding => _ledger.Capacity;

    /// <summary>Gets the consumer's name in its group.</summary>
    /// <value><see cref="RedisStreamOptions.ConsumerName"/>.</value>
    public string ConsumerName => _options.ConsumerName;

    /// <summary>Takes a snapshot of the source's counters.</summary>
    /// <returns>The counters since the source was built, and the number of messages it holds now.</returns>
    public RedisStreamStatistics GetStatistics() => new()
    {
        Read = Interlocked.Read(ref _read),
        Redelivered = Interlocked.Read(ref _redelivered),
        Reclaimed = Interlocked.Read(ref _reclaimed),
        Acknowledged = Interlocked.Read(ref _acknowledged),
        Retried = Interlocked.Read(ref _retried),
        DeadLettered = Interlocked.Read(ref _deadLettered),
        Outstanding = _ledger.Count,
    };

    /// <summary>
    /// Settles a message from its job's outcome. <see cref="JobStatus.Succeeded"/>: acknowledged.
    /// <see cref="JobStatus.Failed"/> or <see cref="JobStatus.TimedOut"/>: left pending and delivered again after
    /// <see cref="RedisStreamOptions.RetryDelay"/>; once it has been delivered <see cref="RedisStreamOptions.MaxDeliveries"/>
    /// times, moved to the dead-letter stream with the error as the reason, and acknowledged.
    /// <see cref="JobStatus.Canceled"/> (started or not): left pending, so that a restart of this consumer or another
    /// consumer's takeover delivers it again. A settlement that fails (see the exceptions) also leaves the message
    /// pending, and this consumer lets go of it: its next enumeration, or a takeover once the message has been idle for
    /// <see cref="RedisStreamOptions.ClaimMinIdleTime"/>, delivers it again. Calling this method again for the same outcome
    /// tries the settlement again.
    /// </summary>
    /// <typeparam name="TResult">The type of the job's result.</typeparam>
    /// <param name="outcome">The outcome the pool produced for the message.</param>
    /// <param name="cancellationToken">Cancels the wait between retries of a Redis command that fails for lack of a connection.</param>
    /// <returns>A task that completes once Redis has the settlement.</returns>
    /// <exception cref="ArgumentNullException">The outcome's job is <see langword="null"/>.</exception>
    /// <exception cref="RedisConnectionException">(From the task.) Redis stayed unreachable for longer than <see cref="RedisStreamOptions.ConnectionRetryTimeout"/>; the message stays pending.</exception>
    /// <exception cref="RedisTimeoutException">(From the task.) As above, with timeouts.</exception>
    /// <exception cref="OperationCanceledException">(From the task.) <paramref name="cancellationToken"/> was cancelled while waiting to retry.</exception>
    /// <exception cref="RedisServerException">(From the task.) Redis refused the settlement, such as a dead letter on a key that holds another type; the message stays pending.</exception>
    public Task CompleteAsync<TResult>(JobResult<RedisStreamMessage<TJob>, TResult> outcome, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(outcome.Job, nameof(outcome));
        return cancellationToken.IsCancellationRequested ? Task.FromCanceled(cancellationToken) : SettleAsync(outcome, cancellationToken);
    }

    /// <summary>
    /// <see cref="CompleteAsync"/> for a worker, whose token stops it: the settlement is tried once even if
    /// <paramref name="cancellationToken"/> is cancelled, and is not tried again after that.
    /// </summary>
    internal Task SettleAsync<TResult>(JobResult<RedisStreamMessage<TJob>, TResult> outcome, CancellationToken cancellationToken)
    {
        RedisStreamMessage<TJob> message = outcome.Job;
        switch (OutcomePolicy.Decide(outcome.Status, message.DeliveryCount, _options.MaxDeliveries))
        {
            case Settlement.Acknowledge:
                return AcknowledgeAsync(message.Id, cancellationToken);
            case Settlement.Retry:
                Interlocked.Increment(ref _retried);
                Log.RetryScheduled(_logger, message.Id, outcome.Status, message.DeliveryCount);
                _ledger.ScheduleRetry(message.Id, _options.RetryDelay);
                return Task.CompletedTask;
            case Settlement.DeadLetter:
                string reason = outcome.Error is { } error
                    ? $"{outcome.Status} on delivery {message.DeliveryCount} of {_options.MaxDeliveries}: {error.GetType().FullName}: {error.Message}"
                    : $"{outcome.Status} on delivery {message.DeliveryCount} of {_options.MaxDeliveries}";
                return DeadLetterAsync(message.Id, message.Payload, message.DeliveryCount, reason, cancellationToken);
            default:
                _ledger.Remove(message.Id);
                return Task.CompletedTask;
        }
    }

    /// <summary>Whether <see cref="SettleAsync"/> would acknowledge this outcome: what a worker sends in batches.</summary>
    internal bool IsAcknowledgedBy<TResult>(JobResult<RedisStreamMessage<TJob>, TResult> outcome) =>
        OutcomePolicy.Decide(outcome.Status, outcome.Job.DeliveryCount, _options.MaxDeliveries) == Settlement.Acknowledge;

    /// <summary>
    /// Acknowledges the messages of <paramref name="ids"/>, whose jobs succeeded, in one XACK: for a worker, which
    /// gathers the outcomes that are ready together. Tried once even if <paramref name="cancellationToken"/> is cancelled,
    /// as <see cref="SettleAsync"/> is.
    /// </summary>
    internal async Task AcknowledgeAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return;
        }

        var values = new RedisValue[ids.Count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = ids[i];
        }

        try
        {
            await _retry.ExecuteAsync(() => _database.StreamAcknowledgeAsync(_stream, _group, values), "XACK", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Acknowledged, or left pending for a later delivery: either way this consumer no longer holds them.
            foreach (string id in ids)
            {
                _ledger.Remove(id);
            }
        }

        Interlocked.Add(ref _acknowledged, ids.Count);
    }

    /// <summary>Starts an enumeration: reads and yields messages until <paramref name="cancellationToken"/> is cancelled.</summary>
    /// <param name="cancellationToken">Ends the enumeration.</param>
    /// <returns>The enumerator.</returns>
    /// <exception cref="InvalidOperationException">The source is already being enumerated.</exception>
    /// <remarks>
    /// Messages read but not yet yielded when the enumeration ends stay pending in Redis, and are delivered again. The
    /// enumeration throws <see cref="RedisConnectionException"/> or <see cref="RedisTimeoutException"/> when Redis stays
    /// unreachable for longer than <see cref="RedisStreamOptions.ConnectionRetryTimeout"/>.
    /// </remarks>
    public IAsyncEnumerator<RedisStreamMessage<TJob>> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        Enumerate(heartbeatFailed: null, cancellationToken);

    /// <summary>
    /// The source as an enumerable whose enumerations call <paramref name="heartbeatFailed"/> as soon as their heartbeat
    /// gives up, on the heartbeat's task, before the enumeration can end: for an owner that can stop its run then, rather
    /// than at the enumeration's next step, which a full pool may not take for a long time.
    /// </summary>
    internal IAsyncEnumerable<RedisStreamMessage<TJob>> WithHeartbeatFailure(Action<Exception> heartbeatFailed) =>
        new Watched(this, heartbeatFailed);

    private Enumeration Enumerate(Action<Exception>? heartbeatFailed, CancellationToken cancellationToken)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _enumeration, ended, null) is not null)
        {
            throw new InvalidOperationException($"The source for consumer '{_options.ConsumerName}' is already being enumerated; it supports one enumeration at a time.");
        }

        return new Enumeration(this, ended, ReadAsync(heartbeatFailed, cancellationToken));
    }

    /// <summary>
    /// Completes once no enumeration is in progress: the last one's enumerator has been disposed, which waits for a Redis
    /// command it had in flight.
    /// </summary>
    internal Task WhenNotEnumeratingAsync() => Volatile.Read(ref _enumeration)?.Task ?? Task.CompletedTask;

    /// <summary>
    /// Lets go of every message held, for an owner that knows none of them will be settled: their runs have ended. They
    /// stay pending in Redis, and this consumer's next enumeration takes them back first.
    /// </summary>
    internal void ReleaseHeld() => _ledger.Clear();

    private sealed class Watched(RedisStreamSource<TJob> source, Action<Exception> heartbeatFailed) : IAsyncEnumerable<RedisStreamMessage<TJob>>
    {
        public IAsyncEnumerator<RedisStreamMessage<TJob>> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
            source.Enumerate(heartbeatFailed, cancellationToken);
    }

    /// <summary>
    /// The enumerator handed out: the read loop, and the end of the enumeration once it is disposed, even if it never
    /// started (an iterator that never ran has no <c>finally</c> to run).
    /// </summary>
    private sealed class Enumeration(RedisStreamSource<TJob> source, TaskCompletionSource ended, IAsyncEnumerator<RedisStreamMessage<TJob>> reader)
        : IAsyncEnumerator<RedisStreamMessage<TJob>>
    {
        private int _disposed;

        public RedisStreamMessage<TJob> Current => reader.Current;

        public ValueTask<bool> MoveNextAsync() => reader.MoveNextAsync();

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1)
            {
                return;
            }

            try
            {
                await reader.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                // Only this enumeration's end: a later one has its own.
                Interlocked.CompareExchange(ref source._enumeration, null, ended);
                ended.TrySetResult();
            }
        }
    }

    /// <summary>Creates the consumer group (and the stream) if it does not exist yet.</summary>
    internal async Task EnsureGroupAsync(CancellationToken cancellationToken)
    {
        if (!_options.CreateGroup)
        {
            return;
        }

        try
        {
            await _retry.ExecuteAsync(
                () => _database.StreamCreateConsumerGroupAsync(_stream, _group, StreamPosition.Beginning, createStream: true),
                "XGROUP CREATE",
                cancellationToken).ConfigureAwait(false);
        }
        catch (RedisServerException exception) when (exception.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            // It exists: the usual case.
        }
    }

    private async IAsyncEnumerator<RedisStreamMessage<TJob>> ReadAsync(Action<Exception>? heartbeatFailed, CancellationToken cancellationToken)
    {
        var state = new ReadState(_options.PollMinDelay);
        var batch = new List<RedisStreamMessage<TJob>>();
        int next = 0;
        Heartbeat heartbeat = Heartbeat.Start(_ledger, _claim, Heartbeat.PeriodFor(_options.ClaimMinIdleTime), _options.TimeProvider, _logger, heartbeatFailed, cancellationToken);
        try
        {
            await EnsureGroupAsync(cancellationToken).ConfigureAwait(false);
            Log.ConsumerStarted(_logger, _options.ConsumerName, _options.GroupName, _options.StreamKey, _ledger.Capacity);
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                heartbeat.ThrowIfFailed();
                batch.Clear();
                next = 0;
                bool readSomething = await FetchAsync(state, batch, cancellationToken).ConfigureAwait(false);
                while (next < batch.Count)
                {
                    // A stopped enumeration hands nothing more over, even what a read still in flight at the stop
                    // returned: it stays pending in Redis (see finally), for this consumer's next enumeration.
                    cancellationToken.ThrowIfCancellationRequested();
                    RedisStreamMessage<TJob> message = batch[next++];
                    yield return message;
                }

                if (readSomething)
                {
                    state.PollDelay = _options.PollMinDelay;
                }
                else
                {
                    await Task.Delay(state.PollDelay, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
                    state.PollDelay = TimeSpan.FromTicks(Math.Min(state.PollDelay.Ticks * 2, _options.PollMaxDelay.Ticks));
                }
            }
        }
        finally
        {
            // No heartbeat once the enumeration has ended: what this consumer still holds becomes idle in Redis.
            await heartbeat.StopAsync().ConfigureAwait(false);

            // Read but never handed over: they stay pending in Redis, and this consumer lets go of them.
            for (int i = next; i < batch.Count; i++)
            {
                _ledger.Remove(batch[i].Id);
            }

            Log.ConsumerStopped(_logger, _options.ConsumerName, _options.StreamKey);
        }
    }

    /// <summary>
    /// One step of the read loop: takes at most the ledger's room and adds what it may yield to <paramref name="batch"/>.
    /// Returns whether it got anything from Redis (so that the loop does not wait before the next step).
    /// </summary>
    private async Task<bool> FetchAsync(ReadState state, List<RedisStreamMessage<TJob>> batch, CancellationToken cancellationToken)
    {
        try
        {
            // 1. This consumer's own failures whose retry is due. They are held already: no room needed. At most one claim's
            // worth: a claim counts a delivery, so what it claimed is handed on before the next claim, which may fail.
            List<string> due = _ledger.DueRetries(OwnedClaim.MaxIdsPerCall);
            if (due.Count > 0)
            {
                await RetryDueAsync(due, batch, cancellationToken).ConfigureAwait(false);
                return true;
            }

            int room = _ledger.Room;
            if (room == 0)
            {
                TimeSpan wait = _ledger.NextRetryIn() is { } retryIn && retryIn < _options.PollMaxDelay ? retryIn : _options.PollMaxDelay;
                await _ledger.WaitForChangeAsync(wait, cancellationToken).ConfigureAwait(false);
                return true;
            }

            // 2. Once per enumeration: this consumer's own pending messages, left by an earlier run.
            if (state.HistoryCursor is { } cursor)
            {
                StreamEntry[] own = await _retry.ExecuteAsync(
                    () => _database.StreamReadGroupAsync(_stream, _group, _consumer, cursor, room),
                    "XREADGROUP 0",
                    cancellationToken).ConfigureAwait(false);
                if (own.Length == 0)
                {
                    state.HistoryCursor = null;
                    return true;
                }

                state.HistoryCursor = own[^1].Id;
                int taken = await AcceptRedeliveredAsync(own, batch, cancellationToken).ConfigureAwait(false);
                Interlocked.Add(ref _redelivered, taken);
                if (taken > 0)
                {
                    Log.OwnPendingRedelivered(_logger, _options.ConsumerName, taken);
                }

                return true;
            }

            // 3. Messages other consumers left idle for too long: a process that died, or one that hangs.
            long now = _options.TimeProvider.GetTimestamp();
            if (state.ClaimCursor != ReadState.Start || now >= state.NextClaimAt)
            {
                StreamAutoClaimResult claimed = await _retry.ExecuteAsync(
                    () => _database.StreamAutoClaimAsync(_stream, _group, _consumer, (long)_options.ClaimMinIdleTime.TotalMilliseconds, state.ClaimCursor, room),
                    "XAUTOCLAIM",
                    cancellationToken).ConfigureAwait(false);
                state.ClaimCursor = claimed.IsNull || claimed.NextStartId.IsNullOrEmpty || claimed.NextStartId == ReadState.Start ? ReadState.Start : claimed.NextStartId;
                if (state.ClaimCursor == ReadState.Start)
                {
                    state.NextClaimAt = now + (long)(_options.ClaimInterval.TotalSeconds * _options.TimeProvider.TimestampFrequency);
                }

                StreamEntry[] entries = claimed.IsNull ? [] : claimed.ClaimedEntries;
                if (entries.Length > 0)
                {
                    int taken = await AcceptRedeliveredAsync(entries, batch, cancellationToken, takeover: true).ConfigureAwait(false);
                    Interlocked.Add(ref _reclaimed, taken);
                    if (taken > 0)
                    {
                        Log.MessagesReclaimed(_logger, _options.ConsumerName, taken);
                    }

                    return true;
                }
            }

            // 4. New messages.
            StreamEntry[] fresh = await _retry.ExecuteAsync(
                () => _database.StreamReadGroupAsync(_stream, _group, _consumer, StreamPosition.NewMessages, room),
                "XREADGROUP >",
                cancellationToken).ConfigureAwait(false);
            foreach (StreamEntry entry in fresh)
            {
                string id = entry.Id.ToString();
                _ledger.TryAdd(id);
                Interlocked.Increment(ref _read);
                await AcceptAsync(id, entry, deliveryCount: 1, batch, cancellationToken).ConfigureAwait(false);
            }

            Debug.Assert(_ledger.Count <= _ledger.Capacity, "The consumer holds more messages than its bound.");
            return fresh.Length > 0;
        }
        catch (RedisServerException exception) when (exception.Message.StartsWith("NOGROUP", StringComparison.Ordinal) && _options.CreateGroup)
        {
            // The stream or the group was deleted, or a server without persistence restarted: make it again.
            Log.GroupMissing(_logger, _options.GroupName, _options.StreamKey);
            await EnsureGroupAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
    }

    /// <summary>
    /// Delivers this consumer's due failures again: XCLAIM to itself, which counts a delivery, of those it still owns.
    /// </summary>
    /// <remarks>
    /// A plain XCLAIM takes a message from whichever consumer holds it now, and no minimum idle time tells the two
    /// apart: the heartbeat keeps a waiting failure from being idle, and another consumer may have taken the message
    /// over long before (after this one stopped heart-beating for longer than
    /// <see cref="RedisStreamOptions.ClaimMinIdleTime"/>, cut off from Redis for example) and still be running it. So
    /// the claim checks the owner in the same atomic step, and a message another consumer owns now is left to it.
    /// </remarks>
    private async Task RetryDueAsync(List<string> due, List<RedisStreamMessage<TJob>> batch, CancellationToken cancellationToken)
    {
        (HashSet<string> owned, List<StreamEntry> entries) = await _claim.DeliverAgainAsync(due, cancellationToken).ConfigureAwait(false);
        var returned = new HashSet<string>(entries.Count, StringComparer.Ordinal);
        foreach (StreamEntry entry in entries)
        {
            returned.Add(entry.Id.ToString());
        }

        foreach (string id in due)
        {
            if (!owned.Contains(id))
            {
                // Acknowledged, or owned by another consumer now: not this consumer's to run.
                _ledger.Remove(id);
            }
            else if (!returned.Contains(id))
            {
                // Deleted from the stream while it waited: there is nothing to run.
                await _retry.ExecuteAsync(() => _database.StreamAcknowledgeAsync(_stream, _group, id), "XACK", cancellationToken).ConfigureAwait(false);
                _ledger.Remove(id);
            }
        }

        int taken = await AcceptRedeliveredAsync([.. entries], batch, cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _redelivered, taken);
    }

    /// <summary>
    /// Takes entries that were delivered before (own pending, retries, takeovers): looks up their delivery counts,
    /// acknowledges those whose message was deleted from the stream, dead-letters those delivered too often, and adds
    /// the rest to <paramref name="batch"/>. Returns how many it added.
    /// </summary>
    /// <remarks>
    /// A <paramref name="takeover"/> (XAUTOCLAIM) may return this consumer's own messages, when they have been idle in
    /// Redis while they wait in the pool's queue or run because the heartbeat lapsed (Redis was unreachable for longer
    /// than <see cref="RedisStreamOptions.ClaimMinIdleTime"/>, for example). Those running here when it returned are
    /// left to their run. They are noted before the delivery counts are looked up: one of them may succeed, be
    /// acknowledged and leave the ledger meanwhile, and must not look like a message to take then.
    /// </remarks>
    private async Task<int> AcceptRedeliveredAsync(StreamEntry[] entries, List<RedisStreamMessage<TJob>> batch, CancellationToken cancellationToken, bool takeover = false)
    {
        if (entries.Length == 0)
        {
            return 0;
        }

        HashSet<string>? runningHere = null;
        string first = entries[0].Id.ToString();
        string last = first;
        foreach (StreamEntry entry in entries)
        {
            string id = entry.Id.ToString();
            if (takeover && _ledger.IsInFlight(id))
            {
                (runningHere ??= new HashSet<string>(StringComparer.Ordinal)).Add(id);
            }

            if (StreamIds.Compare(id, first) < 0)
            {
                first = id;
            }

            if (StreamIds.Compare(id, last) > 0)
            {
                last = id;
            }
        }

        StreamPendingMessageInfo[] pending = await _retry.ExecuteAsync(
            () => _database.StreamPendingMessagesAsync(_stream, _group, Math.Max(entries.Length, _ledger.Capacity) + 1, _consumer, first, last),
            "XPENDING",
            cancellationToken).ConfigureAwait(false);
        var deliveries = new Dictionary<string, long>(pending.Length, StringComparer.Ordinal);
        foreach (StreamPendingMessageInfo info in pending)
        {
            deliveries[info.MessageId.ToString()] = info.DeliveryCount;
        }

        int before = batch.Count;
        foreach (StreamEntry entry in entries)
        {
            string id = entry.Id.ToString();
            if (!deliveries.TryGetValue(id, out long deliveryCount))
            {
                // Not this consumer's any more: another one claimed or acknowledged it in between.
                continue;
            }

            if (entry.IsNull || entry.Values is null || entry.Values.Length == 0)
            {
                // The message was deleted from the stream while pending: there is nothing to run.
                await _retry.ExecuteAsync(() => _database.StreamAcknowledgeAsync(_stream, _group, id), "XACK", cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (runningHere?.Contains(id) == true || !_ledger.TryAdd(id))
            {
                // Running here, or was when the takeover returned it: one of this consumer's own jobs.
                continue;
            }

            if (deliveryCount > _options.MaxDeliveries)
            {
                string reason = $"delivered {deliveryCount} times, more than MaxDeliveries ({_options.MaxDeliveries}), without being settled: the consumers that took it stopped or crashed";
                await DeadLetterAsync(id, entry[_options.PayloadField], deliveryCount, reason, cancellationToken).ConfigureAwait(false);
                continue;
            }

            await AcceptAsync(id, entry, deliveryCount, batch, cancellationToken).ConfigureAwait(false);
        }

        return batch.Count - before;
    }

    /// <summary>Deserializes an entry the ledger already holds; a payload that cannot be read is dead-lettered.</summary>
    private async Task AcceptAsync(string id, StreamEntry entry, long deliveryCount, List<RedisStreamMessage<TJob>> batch, CancellationToken cancellationToken)
    {
        RedisValue payload = entry[_options.PayloadField];
        string? problem;
        if (payload.IsNull)
        {
            problem = $"the entry has no '{_options.PayloadField}' field";
        }
        else
        {
            try
            {
                batch.Add(new RedisStreamMessage<TJob>(id, deliveryCount, _serializer.Deserialize((ReadOnlyMemory<byte>)payload), payload));
                return;
            }
#pragma warning disable CA1031 // Any exception from a serializer means the payload is bad input, never a reason to stop.
            catch (Exception exception)
#pragma warning restore CA1031
            {
                problem = $"the payload could not be deserialized: {exception.GetType().FullName}: {exception.Message}";
            }
        }

        await DeadLetterAsync(id, payload, deliveryCount, problem, cancellationToken).ConfigureAwait(false);
    }

    private async Task AcknowledgeAsync(string id, CancellationToken cancellationToken)
    {
        try
        {
            await _retry.ExecuteAsync(() => _database.StreamAcknowledgeAsync(_stream, _group, id), "XACK", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _ledger.Remove(id);
        }

        Interlocked.Increment(ref _acknowledged);
    }

    /// <summary>
    /// Copies a message to the dead-letter stream and acknowledges it, in one script: the acknowledgement runs only once
    /// the copy is written. (In a MULTI, a copy that fails at EXEC, such as on a dead-letter key that holds another type,
    /// would not stop the acknowledgement, and the message would be lost.) A copy Redis refuses ends the call with its
    /// <see cref="RedisServerException"/>, and the message stays pending. The script first checks that the message is
    /// still pending with this consumer, and does nothing if not: another consumer has taken it over (it is that one's
    /// to settle now), or it is acknowledged already, as when a retry of the script follows a run whose reply was lost.
    /// In that last case (a retry that finds the message pending with nobody) the move is counted and logged as this
    /// consumer's: it cannot tell it from another consumer that took the message over and acknowledged it in between.
    /// </summary>
    private async Task DeadLetterAsync(string id, RedisValue payload, long deliveryCount, string reason, CancellationToken cancellationToken)
    {
        RedisValue[] args =
        [
            _group,
            id,
            _consumer,
            "id", id,
            "stream", _options.StreamKey,
            "group", _options.GroupName,
            "consumer", _options.ConsumerName,
            "deliveries", deliveryCount,
            "reason", reason,
            "payload", payload.IsNull ? RedisValue.EmptyString : payload,
        ];
        RedisResult moved;
        int attempts = 0;
        try
        {
            moved = await _retry.ExecuteAsync(
                () =>
                {
                    attempts++;
                    return _database.ScriptEvaluateAsync(DeadLetterScript, [_stream, _deadLetter], args);
                },
                "XADD+XACK (dead letter)",
                cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Dead-lettered, or left pending: if left pending, this consumer lets go of it, so that it is delivered again
            // (to this consumer's next enumeration, or to a takeover once idle) rather than held and skipped for good.
            _ledger.Remove(id);
        }

        // Pending with nobody: on the first attempt, someone else acknowledged it; on a retry, the attempt whose reply was
        // lost most likely moved it, and the retry finds the move done.
        long outcome = (long)moved;
        if (outcome == 0 || (outcome < 0 && attempts == 1))
        {
            Log.DeadLetterLeft(_logger, id, _options.ConsumerName);
            return;
        }

        Interlocked.Increment(ref _deadLettered);
        Log.MessageDeadLettered(_logger, id, _options.EffectiveDeadLetterStreamKey, deliveryCount, reason);
    }

    /// <summary>The read loop's position: where the own-pending pass and the takeover scan are, and the poll backoff.</summary>
    private sealed class ReadState(TimeSpan pollDelay)
    {
        /// <summary>The id before every entry: where XREADGROUP of pending entries and XAUTOCLAIM start.</summary>
        public static readonly RedisValue Start = "0-0";

        /// <summary>The id after which to read this consumer's own pending messages; null once they are all read.</summary>
        public RedisValue? HistoryCursor { get; set; } = Start;

        public RedisValue ClaimCursor { get; set; } = Start;

        public long NextClaimAt { get; set; }

        public TimeSpan PollDelay { get; set; } = pollDelay;
    }
}
