using WorkerPool.Redis.Hosting.Internal;

namespace WorkerPool.Redis.Hosting.Tests.Internal;

public sealed class RedisStreamWorkerStateTests
{
    [Fact]
    public void Running_AfterWaitingToRestart_CountsARestartAndForgetsTheError()
    {
        var state = new RedisStreamWorkerState("orders");
        state.Running();
        var error = new TimeoutException("gone");
        DateTimeOffset at = DateTimeOffset.UnixEpoch.AddSeconds(5);

        state.WaitingToRestart(error, at);
        RedisStreamWorkerState.Snapshot waiting = state.Current;
        state.Running();

        waiting.Should().Be(new RedisStreamWorkerState.Snapshot(RedisStreamWorkerStatus.WaitingToRestart, error, at, Restarts: 0));
        state.Current.Should().Be(new RedisStreamWorkerState.Snapshot(RedisStreamWorkerStatus.Running, Error: null, RestartAt: null, Restarts: 1));
    }

    [Fact]
    public void Failed_KeepsTheErrorAndTheRestarts()
    {
        var state = new RedisStreamWorkerState("orders");
        state.Running();
        state.WaitingToRestart(new TimeoutException("gone"), DateTimeOffset.UnixEpoch);
        state.Running();
        var error = new InvalidOperationException("fatal");

        state.Failed(error);

        state.Current.Should().Be(new RedisStreamWorkerState.Snapshot(RedisStreamWorkerStatus.Failed, error, RestartAt: null, Restarts: 1));
    }

    [Fact]
    public void GetStatistics_BeforeStarted_IsNull()
    {
        var state = new RedisStreamWorkerState("orders");

        state.GetStatistics().Should().BeNull();
        state.MaxOutstanding.Should().Be(0);
        state.Current.Status.Should().Be(RedisStreamWorkerStatus.NotStarted);
    }
}
