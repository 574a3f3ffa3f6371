namespace WorkerPool.Redis.Internal;

/// <summary>What happens to a message once its job has an outcome.</summary>
internal enum Settlement
{
    /// <summary>XACK: the message is done.</summary>
    Acknowledge,

    /// <summary>Left pending, and delivered again after the retry delay.</summary>
    Retry,

    /// <summary>Copied to the dead-letter stream with the reason, then acknowledged, in one script.</summary>
    DeadLetter,

    /// <summary>Left pending and forgotten here: a restart of this consumer, or a takeover by another, delivers it again.</summary>
    LeavePending,
}

/// <summary>
/// Maps a job's outcome to what happens to its message. Succeeded is acknowledged. Failed and TimedOut are retried
/// until the message has been delivered <see cref="RedisStreamOptions.MaxDeliveries"/> times, then dead-lettered.
/// Canceled (the consumer is stopping) is left pending, whether or not the job had started, so that it is redelivered.
/// </summary>
internal static class OutcomePolicy
{
    internal static Settlement Decide(JobStatus status, long deliveryCount, int maxDeliveries) => status switch
    {
        JobStatus.Succeeded => Settlement.Acknowledge,
        JobStatus.Failed or JobStatus.TimedOut => deliveryCount >= maxDeliveries ? Settlement.DeadLetter : Settlement.Retry,
        _ => Settlement.LeavePending,
    };
}
