namespace WorkerPool.Redis;

/// <summary>
/// Settings for reading jobs from a Redis stream through a consumer group: which stream, group and consumer, how
/// failed jobs are retried and dead-lettered, and how the messages of a consumer that died are taken over.
/// </summary>
/// <remarks>
/// The source validates these settings and takes a copy of them when it is built, so changing an instance afterwards
/// has no effect on a source already built from it. The type itself is not thread-safe: set it up on one thread, then
/// hand it over.
/// </remarks>
public sealed class RedisStreamOptions
{
    /// <summary>Gets or sets the key of the stream that holds the jobs.</summary>
    /// <value>A non-empty key. The default is <c>"workerpool:jobs"</c>.</value>
    public string StreamKey { get; set; } = "workerpool:jobs";

    /// <summary>
    /// Gets or sets the consumer group. Every process that reads with the same group competes for the same messages:
    /// each message goes to one of them.
    /// </summary>
    /// <value>A non-empty name. The default is <c>"workerpool"</c>.</value>
    public string GroupName { get; set; } = "workerpool";

    /// <summary>
    /// Gets or sets this consumer's name within the group. Two processes must never share a name. A process that
    /// restarts with the same name first takes back its own pending messages; one that restarts with a new name leaves
    /// them to be reclaimed after <see cref="ClaimMinIdleTime"/>.
    /// </summary>
    /// <value>A non-empty name. The default is the machine name and the process id, such as <c>"web-1:4711"</c>.</value>
    public string ConsumerName { get; set; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>
    /// Gets or sets the stream that receives the messages that cannot be processed: those that failed
    /// <see cref="MaxDeliveries"/> times, and those whose payload cannot be read. Each entry keeps the original id, the
    /// payload, the number of deliveries and the reason.
    /// </summary>
    /// <remarks>
    /// A message is copied here and acknowledged in one script, so on Redis Cluster this key and <see cref="StreamKey"/>
    /// must hash to the same slot: give both the same hash tag, such as <c>{jobs}</c> and <c>{jobs}:dead-letter</c> (the
    /// default for a <see cref="StreamKey"/> of <c>{jobs}</c>).
    /// </remarks>
    /// <value>A key, or <see langword="null"/> for <see cref="StreamKey"/> followed by <c>":dead-letter"</c>. The default is <see langword="null"/>.</value>
    public string? DeadLetterStreamKey { get; set; }

    /// <summary>Gets or sets the name of the stream entry's field that holds the serialized job.</summary>
    /// <value>A non-empty name. The default is <c>"job"</c>.</value>
    public string PayloadField { get; set; } = "job";

    /// <summary>
    /// Gets or sets how many times a message may be delivered before a failure moves it to the dead-letter stream. A
    /// message reclaimed from consumers that never settled it (for example because each one crashed on it) is
    /// dead-lettered as soon as it has been delivered more often than this, without running again.
    /// </summary>
    /// <value>At least 1. The default is 5.</value>
    public int MaxDeliveries { get; set; } = 5;

    /// <summary>
    /// Gets or sets how long a failed message stays pending before this consumer delivers it again. The message counts
    /// against the consumer's bound while it waits.
    /// </summary>
    /// <value>Zero or positive. The default is 1 second.</value>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Gets or sets how long a pending message must have been idle in Redis before another consumer may take it over
    /// (XAUTOCLAIM). This is how the messages of a process that died get processed, and how long they wait first.
    /// </summary>
    /// <value>Positive. The default is 30 seconds.</value>
    /// <remarks>
    /// A live consumer keeps every message it holds (read, queued in its pool, running, or waiting for its retry) from
    /// being idle: every third of this time it restarts their idle time in Redis, for those it still owns, without
    /// counting a delivery (a heartbeat). So a job may wait in the queue and run for longer than this without being
    /// taken over; a job that hangs while its process lives is ended by the pool's
    /// <see cref="WorkerPoolOptions.JobTimeout"/>, not by a takeover. Only a consumer that stops heart-beating for longer
    /// than this (dead, hung as a whole, or cut off from Redis) loses its messages to the others, and a job it was still
    /// running then runs a second time. Make it comfortably longer than the longest pause a live process may have:
    /// a garbage collection, a slow Redis command, a brief network outage.
    /// </remarks>
    public TimeSpan ClaimMinIdleTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how often this consumer looks for messages that other consumers left idle.</summary>
    /// <value>Positive. The default is 5 seconds.</value>
    public TimeSpan ClaimInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets the first wait after a read found no new message. Each further empty read doubles the wait, up to
    /// <see cref="PollMaxDelay"/>; a read that finds messages resets it. (The client has no blocking read.)
    /// </summary>
    /// <value>Positive. The default is 5 milliseconds.</value>
    public TimeSpan PollMinDelay { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Gets or sets the longest wait between two reads of an empty stream.</summary>
    /// <value>At least <see cref="PollMinDelay"/>. The default is 500 milliseconds.</value>
    public TimeSpan PollMaxDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Gets or sets how long a Redis command that fails because the connection is lost or timed out, or because the
    /// server says it is in a passing state (LOADING, BUSY, READONLY during a failover, MASTERDOWN, NOREPLICAS, TRYAGAIN,
    /// CLUSTERDOWN), is retried, with backoff, before the failure ends the run. Messages are never lost either way:
    /// whatever was not acknowledged stays pending in Redis.
    /// </summary>
    /// <remarks>
    /// The heartbeat's commands are retried for this long too, so a consumer cut off from Redis (while others still reach
    /// it) stops its run, and cancels its jobs, at most a third of <see cref="ClaimMinIdleTime"/>, plus this timeout, plus
    /// the backoff's last wait (at most 2 seconds), plus two of the client's command timeouts (the beat that first fails,
    /// and the last retry; StackExchange.Redis waits 5 seconds by default) after its last heartbeat that reached Redis.
    /// Other consumers may take its messages over from <see cref="ClaimMinIdleTime"/> after that heartbeat. With the
    /// defaults (30 seconds here and there) they can, for up to 22 seconds, while its jobs still run. For the jobs to be
    /// cancelled first, keep this under two thirds of <see cref="ClaimMinIdleTime"/>, minus 2 seconds, minus two command
    /// timeouts: 8 seconds with the defaults. The price is that a shorter outage ends the run.
    /// </remarks>
    /// <value>Zero or positive, or <see cref="Timeout.InfiniteTimeSpan"/> to retry forever. The default is 30 seconds.</value>
    public TimeSpan ConnectionRetryTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Gets or sets whether the consumer group (and the stream) is created when it does not exist, starting from the
    /// beginning of the stream so that messages added before the first consumer started are processed too.
    /// </summary>
    /// <value>The default is <see langword="true"/>.</value>
    public bool CreateGroup { get; set; } = true;

    /// <summary>Gets or sets the clock used for retry delays, polling and backoff.</summary>
    /// <value>The default is <see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Gets the dead-letter stream's key: <see cref="DeadLetterStreamKey"/>, or the default derived from <see cref="StreamKey"/>.</summary>
    internal string EffectiveDeadLetterStreamKey => DeadLetterStreamKey ?? StreamKey + ":dead-letter";

    /// <summary>Checks every setting with the same rules as the worker's and the source's constructors.</summary>
    /// <exception cref="ArgumentException">A name or key is <see langword="null"/>, empty or white space; the message names it.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A number or time is out of range; the message names it and its value.</exception>
    /// <exception cref="ArgumentNullException"><see cref="TimeProvider"/> is <see langword="null"/>.</exception>
    /// <remarks>For configuration validation at startup (for example through <c>IValidateOptions</c>); the worker validates its options itself.</remarks>
    public void Validate() => _ = ValidateAndClone();

    /// <summary>Checks every setting and returns an independent copy.</summary>
    /// <exception cref="ArgumentException">A name or key is null, empty or white space.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A number or time is out of range.</exception>
    /// <exception cref="ArgumentNullException"><see cref="TimeProvider"/> is null.</exception>
    internal RedisStreamOptions ValidateAndClone()
    {
        RequireText(StreamKey, nameof(StreamKey));
        RequireText(GroupName, nameof(GroupName));
        RequireText(ConsumerName, nameof(ConsumerName));
        RequireText(PayloadField, nameof(PayloadField));
        if (DeadLetterStreamKey is not null)
        {
            RequireText(DeadLetterStreamKey, nameof(DeadLetterStreamKey));
            if (DeadLetterStreamKey == StreamKey)
            {
                throw new ArgumentException($"{nameof(RedisStreamOptions)}.{nameof(DeadLetterStreamKey)} must differ from {nameof(StreamKey)}, but both were '{StreamKey}'.", nameof(DeadLetterStreamKey));
            }
        }

        if (MaxDeliveries < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxDeliveries), MaxDeliveries, $"{nameof(RedisStreamOptions)}.{nameof(MaxDeliveries)} must be at least 1, but was {MaxDeliveries}.");
        }

        RequireTime(RetryDelay, nameof(RetryDelay), allowZero: true);
        RequireTime(ClaimMinIdleTime, nameof(ClaimMinIdleTime), allowZero: false);
        RequireTime(ClaimInterval, nameof(ClaimInterval), allowZero: false);
        RequireTime(PollMinDelay, nameof(PollMinDelay), allowZero: false);
        RequireTime(PollMaxDelay, nameof(PollMaxDelay), allowZero: false);
        if (PollMaxDelay < PollMinDelay)
        {
            throw new ArgumentOutOfRangeException(nameof(PollMaxDelay), PollMaxDelay, $"{nameof(RedisStreamOptions)}.{nameof(PollMaxDelay)} must be at least {nameof(PollMinDelay)} ({PollMinDelay}), but was {PollMaxDelay}.");
        }

        if (ConnectionRetryTimeout != Timeout.InfiniteTimeSpan)
        {
            RequireTime(ConnectionRetryTimeout, nameof(ConnectionRetryTimeout), allowZero: true);
        }

        if (TimeProvider is null)
        {
            throw new ArgumentNullException(nameof(TimeProvider), $"{nameof(RedisStreamOptions)}.{nameof(TimeProvider)} must not be null.");
        }

        return (RedisStreamOptions)MemberwiseClone();
    }

    private static void RequireText(string? value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new ArgumentException($"{nameof(RedisStreamOptions)}.{name} must not be null, empty or white space, but was '{value}'.", name);
        }
    }

    private static void RequireTime(TimeSpan value, string name, bool allowZero)
    {
        // The upper limit is that of Task.Delay and CancellationTokenSource.CancelAfter.
        TimeSpan max = TimeSpan.FromMilliseconds(uint.MaxValue - 1);
        if (value < TimeSpan.Zero || (!allowZero && value == TimeSpan.Zero) || value > max)
        {
            string range = allowZero ? "zero or positive" : "positive";
            throw new ArgumentOutOfRangeException(name, value, $"{nameof(RedisStreamOptions)}.{name} must be {range} and at most {max}, but was {value}.");
        }
    }
}
