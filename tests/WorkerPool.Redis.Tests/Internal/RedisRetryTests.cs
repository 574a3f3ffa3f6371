using StackExchange.Redis;
using WorkerPool.Redis.Internal;

namespace WorkerPool.Redis.Tests.Internal;

public sealed class RedisRetryTests
{
    [Theory]
    [InlineData(RedisErrorKind.Loading, "LOADING Redis is loading the dataset in memory", true)]
    [InlineData(RedisErrorKind.Busy, "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.", true)]
    [InlineData(RedisErrorKind.ReadOnly, "READONLY You can't write against a read only replica.", true)]
    [InlineData(RedisErrorKind.MasterDown, "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", true)]
    [InlineData(RedisErrorKind.NoReplicas, "NOREPLICAS Not enough good replicas to write.", true)]
    [InlineData(RedisErrorKind.TryAgain, "TRYAGAIN Multiple keys request during rehashing of slot", true)]
    [InlineData(RedisErrorKind.ClusterDown, "CLUSTERDOWN The cluster is down", true)]
    [InlineData(RedisErrorKind.WrongType, "WRONGTYPE Operation against a key holding the wrong kind of value", false)]
    [InlineData(RedisErrorKind.Unknown, "BUSYGROUP Consumer Group name already exists", false)]
    [InlineData(RedisErrorKind.Unknown, "NOGROUP No such key 's' or consumer group 'g'", false)]
    [InlineData(RedisErrorKind.UnknownError, "ERR Error running script", false)]
    [InlineData(RedisErrorKind.CrossSlot, "CROSSSLOT Keys in request don't hash to the same slot", false)]
    [InlineData(RedisErrorKind.OutOfMemory, "OOM command not allowed when used memory > 'maxmemory'.", false)]
    [InlineData(RedisErrorKind.NoPermission, "NOPERM this user has no permissions to run the 'xack' command", false)]
    public void IsTransient_ServerError_OnlyAPassingStateIsRetried(RedisErrorKind kind, string message, bool retried) =>
        RedisRetry.IsTransient(new RedisServerException(kind, CommandFlags.None, message)).Should().Be(retried);
}
