using StackExchange.Redis;

namespace WorkerPool.Redis.Tests;

public sealed class RedisStreamOptionsTests
{
    [Fact]
    public void Constructor_MaxDeliveriesZero_ThrowsNamingTheOptionAndValue()
    {
        var options = new RedisStreamOptions { MaxDeliveries = 0 };
        Action build = () => _ = new RedisStreamSource<int>(NoDatabase(), 1, options);
        build.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().Contain("RedisStreamOptions.MaxDeliveries").And.Contain("was 0");
    }

    [Fact]
    public void Constructor_PollMaxDelayBelowMinDelay_Throws()
    {
        var options = new RedisStreamOptions { PollMinDelay = TimeSpan.FromSeconds(1), PollMaxDelay = TimeSpan.FromMilliseconds(10) };
        Action build = () => _ = new RedisStreamSource<int>(NoDatabase(), 1, options);
        build.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("PollMaxDelay");
    }

    [Fact]
    public void Constructor_EmptyStreamKey_Throws()
    {
        Action build = () => _ = new RedisStreamSource<int>(NoDatabase(), 1, new RedisStreamOptions { StreamKey = " " });
        build.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("StreamKey");
    }

    [Fact]
    public void Worker_StopOnFirstError_Throws()
    {
        Action build = () => _ = new RedisStreamWorker<int, int>(
            NoDatabase(), (m, _) => ValueTask.FromResult(m.Job), poolOptions: new WorkerPoolOptions { ErrorMode = ErrorMode.StopOnFirstError });
        build.Should().Throw<ArgumentException>().Which.Message.Should().Contain("ErrorMode");
    }

    [Fact]
    public void Worker_Bound_IsQueueCapacityPlusMaxWorkers()
    {
        var worker = new RedisStreamWorker<int, int>(
            NoDatabase(), (m, _) => ValueTask.FromResult(m.Job), poolOptions: new WorkerPoolOptions { MaxWorkers = 3, QueueCapacity = 7 });
        worker.MaxOutstanding.Should().Be(10);
    }

    /// <summary>The options are checked before the database is ever used: a proxy that throws on any call will do.</summary>
    private static IDatabase NoDatabase() => System.Reflection.DispatchProxy.Create<IDatabase, ThrowingProxy>();

    public class ThrowingProxy : System.Reflection.DispatchProxy
    {
        protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args) =>
            throw new NotSupportedException("These tests never reach Redis.");
    }
}
