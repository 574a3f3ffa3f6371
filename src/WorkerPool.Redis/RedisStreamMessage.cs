using System.Diagnostics;
using StackExchange.Redis;

namespace WorkerPool.Redis;

/// <summary>
/// One job read from a Redis stream: the stream entry's id, how many times it has been delivered, and the job.
/// </summary>
/// <typeparam name="TJob">The type of the job.</typeparam>
/// <remarks>
/// Delivery is at least once: the same message can be delivered again, to this process or another, after a failure,
/// a crash or a takeover. Handlers should be idempotent, or deduplicate by <see cref="Id"/>. Immutable and thread-safe.
/// </remarks>
[DebuggerDisplay("{Id} (delivery {DeliveryCount})")]
public sealed class RedisStreamMessage<TJob>
{
    internal RedisStreamMessage(string id, long deliveryCount, TJob job, RedisValue payload)
    {
        Id = id;
        DeliveryCount = deliveryCount;
        Job = job;
        Payload = payload;
    }

    /// <summary>Gets the id of the stream entry, such as <c>"1700000000000-0"</c>.</summary>
    /// <value>The entry's id; the same on every delivery of the message, so it is a good deduplication key.</value>
    public string Id { get; }

    /// <summary>Gets how many times the message has been delivered to a consumer of the group, this delivery included.</summary>
    /// <value>1 on the first delivery.</value>
    public long DeliveryCount { get; }

    /// <summary>Gets the job, deserialized from the entry's payload field.</summary>
    /// <value>The job.</value>
    public TJob Job { get; }

    /// <summary>Gets the raw payload, kept for the dead-letter stream.</summary>
    internal RedisValue Payload { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Id} (delivery {DeliveryCount})";
}
