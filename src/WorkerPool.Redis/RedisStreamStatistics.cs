using System.Runtime.InteropServices;

namespace WorkerPool.Redis;

/// <summary>
/// A snapshot of one Redis stream source's counters, counted since the source was built.
/// </summary>
/// <remarks>Each value is read atomically, but not all at one instant. The snapshot itself is immutable.</remarks>
[StructLayout(LayoutKind.Auto)]
public readonly record struct RedisStreamStatistics
{
    /// <summary>Gets the number of new messages read from the stream.</summary>
    /// <value>A count of first deliveries to this consumer.</value>
    public long Read { get; init; }

    /// <summary>Gets the number of this consumer's own pending messages delivered again: after a restart, or to retry a failure.</summary>
    /// <value>A count of redeliveries.</value>
    public long Redelivered { get; init; }

    /// <summary>Gets the number of messages taken over from other consumers after they were idle for <see cref="RedisStreamOptions.ClaimMinIdleTime"/>.</summary>
    /// <value>A count of claimed messages.</value>
    public long Reclaimed { get; init; }

    /// <summary>
    /// Gets the number of messages this consumer acknowledged (sent in an XACK that Redis answered) after their job
    /// succeeded. A message that another consumer had taken over and acknowledged first counts here too.
    /// </summary>
    /// <value>A count of acknowledgements.</value>
    public long Acknowledged { get; init; }

    /// <summary>Gets the number of failures left pending to be delivered again.</summary>
    /// <value>A count of scheduled retries.</value>
    public long Retried { get; init; }

    /// <summary>Gets the number of messages this consumer moved to the dead-letter stream.</summary>
    /// <value>
    /// A count of dead-lettered messages, each once: a move retried after its reply was lost with the connection is counted
    /// once too (and so is, in the rare case that cannot be told from it, a message that another consumer took over and
    /// acknowledged between the two attempts).
    /// </value>
    public long DeadLettered { get; init; }

    /// <summary>Gets the number of messages this consumer holds now: read and not yet acknowledged, dead-lettered or given up.</summary>
    /// <value>At most the source's bound.</value>
    public int Outstanding { get; init; }
}
