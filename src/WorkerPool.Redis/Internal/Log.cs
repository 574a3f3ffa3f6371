using Microsoft.Extensions.Logging;

namespace WorkerPool.Redis.Internal;

/// <summary>
/// Every log message of the Redis package (category <c>WorkerPool.Redis.RedisStreamSource</c>). EventIds are stable.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 101, EventName = "ConsumerStarted", Level = LogLevel.Information,
        Message = "Consumer {Consumer} of group {Group} started reading stream {Stream}, holding at most {MaxOutstanding} message(s)")]
    public static partial void ConsumerStarted(ILogger logger, string consumer, string group, string stream, int maxOutstanding);

    [LoggerMessage(EventId = 102, EventName = "ConsumerStopped", Level = LogLevel.Information,
        Message = "Consumer {Consumer} stopped reading stream {Stream}")]
    public static partial void ConsumerStopped(ILogger logger, string consumer, string stream);

    [LoggerMessage(EventId = 103, EventName = "OwnPendingRedelivered", Level = LogLevel.Information,
        Message = "Consumer {Consumer} took back {Count} of its own pending message(s)")]
    public static partial void OwnPendingRedelivered(ILogger logger, string consumer, int count);

    [LoggerMessage(EventId = 104, EventName = "MessagesReclaimed", Level = LogLevel.Information,
        Message = "Consumer {Consumer} took over {Count} message(s) left idle by other consumers")]
    public static partial void MessagesReclaimed(ILogger logger, string consumer, int count);

    [LoggerMessage(EventId = 105, EventName = "MessageDeadLettered", Level = LogLevel.Warning,
        Message = "Message {MessageId} moved to dead-letter stream {DeadLetterStream} after {Deliveries} delivery(ies): {Reason}")]
    public static partial void MessageDeadLettered(ILogger logger, string messageId, string deadLetterStream, long deliveries, string reason);

    [LoggerMessage(EventId = 106, EventName = "RetryScheduled", Level = LogLevel.Debug,
        Message = "Message {MessageId} ended {Status} on delivery {Deliveries}; it stays pending and is delivered again")]
    public static partial void RetryScheduled(ILogger logger, string messageId, JobStatus status, long deliveries);

    [LoggerMessage(EventId = 107, EventName = "RedisUnavailable", Level = LogLevel.Warning,
        Message = "Redis command {Operation} failed; retrying in {DelayMs:0} ms")]
    public static partial void RedisUnavailable(ILogger logger, string operation, double delayMs, Exception exception);

    [LoggerMessage(EventId = 108, EventName = "RedisRecovered", Level = LogLevel.Information,
        Message = "Redis command {Operation} succeeded again after {ElapsedMs:0} ms of failures")]
    public static partial void RedisRecovered(ILogger logger, string operation, double elapsedMs);

    [LoggerMessage(EventId = 109, EventName = "RedisGaveUp", Level = LogLevel.Error,
        Message = "Redis command {Operation} kept failing for {ElapsedMs:0} ms, past the connection retry timeout; the consumer stops and its unacknowledged messages stay pending")]
    public static partial void RedisGaveUp(ILogger logger, string operation, double elapsedMs, Exception exception);

    [LoggerMessage(EventId = 110, EventName = "GroupMissing", Level = LogLevel.Warning,
        Message = "Consumer group {Group} of stream {Stream} does not exist (any more); creating it")]
    public static partial void GroupMissing(ILogger logger, string group, string stream);

    [LoggerMessage(EventId = 111, EventName = "HeartbeatSent", Level = LogLevel.Trace,
        Message = "Heartbeat: {Owned} of the {Held} held message(s) are still this consumer's, and no longer idle")]
    public static partial void HeartbeatSent(ILogger logger, int held, int owned);

    [LoggerMessage(EventId = 112, EventName = "DeadLetterLeft", Level = LogLevel.Information,
        Message = "Message {MessageId} was not dead-lettered: it is no longer pending with consumer {Consumer} (another consumer took it over, or it is acknowledged already)")]
    public static partial void DeadLetterLeft(ILogger logger, string messageId, string consumer);
}
