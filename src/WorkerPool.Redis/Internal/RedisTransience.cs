using StackExchange.Redis;

namespace WorkerPool.Redis.Internal;

/// <summary>
/// Which Redis errors pass by themselves: a lost or timed-out connection, and a server in a passing state. The worker
/// retries them for <see cref="RedisStreamOptions.ConnectionRetryTimeout"/>, and the hosted worker of
/// WorkerPool.Redis.Hosting (which compiles this file in too) runs the worker again after them.
/// </summary>
internal static class RedisTransience
{
    internal static bool IsTransient(Exception exception) =>
        exception is RedisConnectionException or RedisTimeoutException
        || (exception is RedisServerException refused && IsPassingState(refused.Kind));

    /// <summary>
    /// Whether a server's error says it is in a passing state, and answers again once it has left it: still loading its
    /// data after a restart, running a long script, a replica the client still writes to while a failover promotes
    /// another, a replica cut off from its primary, too few replicas for a write, or a cluster moving or missing slots.
    /// </summary>
    internal static bool IsPassingState(RedisErrorKind kind) => kind is RedisErrorKind.Loading
        or RedisErrorKind.Busy
        or RedisErrorKind.ReadOnly
        or RedisErrorKind.MasterDown
        or RedisErrorKind.NoReplicas
        or RedisErrorKind.TryAgain
        or RedisErrorKind.ClusterDown;
}
