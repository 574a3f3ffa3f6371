using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using WorkerPool.Redis.Hosting.Tests.Support;
using WorkerPool.Redis.Tests;
using WorkerPool.Tests.Support;
using static WorkerPool.Redis.Tests.TestSupport;

namespace WorkerPool.Redis.Hosting.Tests;

/// <summary>The hosted service: how it runs the worker again after an outage, and how it ends on any other error.</summary>
[Collection(RedisServerDefinition.Name)]
public sealed class RedisStreamWorkerServiceTests(RedisFixture redis)
{
    private static readonly TimeSpan RestartDelay = TimeSpan.FromSeconds(42);

    private readonly IDatabase _db = redis.Connection.GetDatabase();

    [Fact]
    public async Task ExecuteAsync_RedisUnreachablePastTheRetryTimeout_DegradedThenRunsAgainAfterRestartDelayAndSettlesTheMessage()
    {
        string name = TestHosts.UniqueName("outage");
        RedisStreamOptions stream = Options();
        stream.ConnectionRetryTimeout = TimeSpan.Zero; // the first failure ends the run
        string id = await new RedisStreamPublisher<int>(_db, stream).PublishAsync(7);
        FaultyConnection connection = FaultyConnection.Over(redis.Connection);
        var clock = new TestClock();
        using IHost host = BuildOutageHost(name, stream, connection, clock);
        var deliveries = new System.Collections.Concurrent.ConcurrentQueue<long>();
        host.Jobs().Work = (message, _, _) =>
        {
            deliveries.Enqueue(message.DeliveryCount);
            connection.Down = message.DeliveryCount == 1; // Redis goes away before the first delivery is acknowledged
            return ValueTask.FromResult(message.Job);
        };

        await host.StartAsync();
        await clock.TimerSet(RestartDelay).Within();

        HealthReportEntry waiting = await host.CheckAsync(name);
        waiting.Status.Should().Be(HealthStatus.Degraded);
        waiting.Description.Should().Contain("RedisConnectionException").And.Contain("The test cut the connection");
        waiting.Exception.Should().BeOfType<RedisConnectionException>();
        host.Log().WithId(202).Should().ContainSingle().Which.Level.Should().Be(LogLevel.Warning);
        (await PendingOfAsync(_db, stream, stream.ConsumerName)).Should().Be(1, "the message that was not acknowledged stays pending");

        connection.Down = false;
        clock.Advance(RestartDelay - TimeSpan.FromTicks(1));
        host.Jobs().Handled(2).IsCompleted.Should().BeFalse("the worker waits for the whole restart delay");
        clock.Advance(TimeSpan.FromTicks(1));
        await host.Jobs().Handled(2).Within();
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, stream), "the new run acknowledges the message");
        await EventuallyAsync(() => Task.FromResult(host.Worker(name).GetStatistics().Acknowledged == 1), "the worker has counted it");

        deliveries.Should().Equal([1, 2], "the new run takes back this consumer's pending message first");
        HealthReportEntry running = await host.CheckAsync(name);
        running.Status.Should().Be(HealthStatus.Healthy);
        running.Data["Restarts"].Should().Be(1);
        running.Data["Acknowledged"].Should().Be(1L);
        host.Log().WithId(203).Should().ContainSingle();
        (await _db.StreamRangeAsync(stream.StreamKey)).Single().Id.ToString().Should().Be(id);
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task ExecuteAsync_ServerBusyPastTheRetryTimeout_WaitsToRestartAsAfterAnOutage()
    {
        // BUSY (a long script), LOADING, READONLY and the like are passing states: the worker retries them as it retries
        // a lost connection, and the service runs it again after them too, instead of stopping the host.
        string name = TestHosts.UniqueName("busy");
        RedisStreamOptions stream = Options();
        stream.ConnectionRetryTimeout = TimeSpan.Zero;
        FaultyConnection connection = FaultyConnection.Over(redis.Connection);
        connection.Fault = () => new RedisServerException(RedisErrorKind.Busy, CommandFlags.None, "BUSY Redis is busy running a script.");
        connection.Down = true;
        var clock = new TestClock();
        using IHost host = BuildOutageHost(name, stream, connection, clock);

        await host.StartAsync();
        await clock.TimerSet(RestartDelay).Within();

        HealthReportEntry waiting = await host.CheckAsync(name);
        waiting.Status.Should().Be(HealthStatus.Degraded);
        waiting.Exception.Should().BeOfType<RedisServerException>().Which.Message.Should().StartWith("BUSY");
        host.Log().WithId(205).Should().BeEmpty("a passing state of the server is not a failure of the worker");
        connection.Down = false;
        clock.Advance(RestartDelay);
        await EventuallyAsync(async () => (await host.CheckAsync(name)).Status == HealthStatus.Healthy, "the worker runs again");
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task ExecuteAsync_HostStopsWhileWaitingToRestart_StopsAtOnce()
    {
        string name = TestHosts.UniqueName("outage-stop");
        RedisStreamOptions stream = Options();
        stream.ConnectionRetryTimeout = TimeSpan.Zero;
        FaultyConnection connection = FaultyConnection.Over(redis.Connection);
        connection.Down = true;
        var clock = new TestClock();
        using IHost host = BuildOutageHost(name, stream, connection, clock);
        await host.StartAsync();
        await clock.TimerSet(RestartDelay).Within();

        await host.StopAsync().Within();

        HealthReportEntry stopped = await host.CheckAsync(name);
        stopped.Status.Should().Be(HealthStatus.Unhealthy);
        stopped.Description.Should().Contain("stopped with the host");
        host.Log().WithId(204).Should().ContainSingle();
        host.Log().WithId(203).Should().BeEmpty("the worker never ran again");
    }

    [Fact]
    public async Task ExecuteAsync_DeadLetterRefused_FailureStatusAndTheExceptionEndsTheServiceAndStopsTheHost()
    {
        string name = TestHosts.UniqueName("fatal");
        RedisStreamOptions stream = await Options().RefusingDeadLettersAsync(_db);
        await new RedisStreamPublisher<int>(_db, stream).PublishAsync(1);
        HostApplicationBuilder builder = TestHosts.CreateBuilder().WithConnection(redis.Connection);
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>(name).Configure(o => o.Stream.Use(stream));
        builder.Services.AddHealthChecks().AddRedisStreamWorker(name, HealthStatus.Degraded);
        using IHost host = builder.Build();
        host.Jobs().Work = (_, _, _) => throw new InvalidOperationException("the job fails, and its dead letter is refused");
        TaskCompletionSource hostStopping = TestExtensions.NewGate();
        host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(hostStopping.SetResult);

        await host.StartAsync();

        RedisServerException failure = await host.Service().ExecuteTask!.ShouldThrowAsync<RedisServerException>();
        failure.Message.Should().Contain("WRONGTYPE");
        await hostStopping.Task.Within();
        HealthReportEntry failed = await host.CheckAsync(name);
        failed.Status.Should().Be(HealthStatus.Degraded, "the registration's failure status");
        failed.Exception.Should().BeSameAs(failure);
        failed.Description.Should().Contain("does not run again").And.Contain("WRONGTYPE");
        host.Log().WithId(205).Should().ContainSingle().Which.Level.Should().Be(LogLevel.Critical);
        (await PendingOfAsync(_db, stream, stream.ConsumerName)).Should().Be(1, "a message whose dead letter was refused stays pending");
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task StopAsync_JobIgnoresItsTokenPastTheShutdownTimeout_StoppedWithAWarningNamingTheJobNotAFailure()
    {
        string name = TestHosts.UniqueName("stuck-stop");
        RedisStreamOptions stream = Options();
        await new RedisStreamPublisher<int>(_db, stream).PublishAsync(1);
        HostApplicationBuilder builder = TestHosts.CreateBuilder().WithConnection(redis.Connection);
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>(name).Configure(o =>
        {
            o.Stream.Use(stream);
            o.Pool.ShutdownTimeout = TimeSpan.Zero;
        });
        builder.Services.AddHealthChecks().AddRedisStreamWorker(name);
        using IHost host = builder.Build();
        TaskCompletionSource started = TestExtensions.NewGate();
        TaskCompletionSource release = TestExtensions.NewGate();
        host.Jobs().Work = async (_, _, _) =>
        {
            started.SetResult();
            await release.Task; // ignores its token
            return 0;
        };
        await host.StartAsync();
        await started.Task.Within();

        try
        {
            await host.StopAsync().Within();

            host.Service().ExecuteTask!.IsCompletedSuccessfully.Should().BeTrue("a job that outlasts the shutdown timeout does not make an ordinary stop a failure");
            HealthReportEntry stopped = await host.CheckAsync(name);
            stopped.Status.Should().Be(HealthStatus.Unhealthy);
            stopped.Description.Should().Contain("stopped with the host");
            host.Log().WithId(205).Should().BeEmpty();
            EventLog.Entry warning = host.Log().WithId(206).Should().ContainSingle().Subject;
            warning.Level.Should().Be(LogLevel.Warning);
            warning.Message.Should().Contain(name).And.Contain("1 job(s)");
            warning.Exception.Should().BeOfType<WorkerPoolShutdownTimeoutException>().Which.RunningJobs.Should().ContainSingle();
            (await PendingOfAsync(_db, stream, stream.ConsumerName)).Should().Be(1, "the job that did not finish leaves its message pending");
        }
        finally
        {
            release.SetResult();
        }
    }

    [Fact]
    public async Task ExecuteAsync_RedisUnreachableWhileAJobIgnoresItsToken_WaitsToRestartAsAfterAnOutage()
    {
        // The outage ends the run, and the run then waits for a job that ignores its token past the shutdown timeout: the
        // run ends with WorkerPoolShutdownTimeoutException, whose cause is the outage. The worker runs again after it.
        string name = TestHosts.UniqueName("outage-stuck");
        RedisStreamOptions stream = Options();
        stream.ConnectionRetryTimeout = TimeSpan.Zero;
        await new RedisStreamPublisher<int>(_db, stream).PublishAsync(1);
        FaultyConnection connection = FaultyConnection.Over(redis.Connection);
        var clock = new TestClock();
        using IHost host = BuildOutageHost(name, stream, connection, clock, o => o.Pool.ShutdownTimeout = TimeSpan.Zero);
        TaskCompletionSource started = TestExtensions.NewGate();
        TaskCompletionSource release = TestExtensions.NewGate();
        host.Jobs().Work = async (message, _, _) =>
        {
            if (message.DeliveryCount == 1)
            {
                started.SetResult();
                await release.Task;
            }

            return message.Job;
        };

        try
        {
            await host.StartAsync();
            await started.Task.Within();
            connection.Down = true; // Redis goes away while the job runs, and the job ignores its token

            // The next poll for messages (on the clock) finds Redis gone, which ends the run.
            Task restartSet = clock.TimerSet(RestartDelay);
            await EventuallyAsync(
                () =>
                {
                    clock.Advance(stream.PollMaxDelay);
                    return Task.FromResult(restartSet.IsCompleted);
                },
                "the worker waits to restart");

            HealthReportEntry waiting = await host.CheckAsync(name);
            waiting.Status.Should().Be(HealthStatus.Degraded);
            waiting.Exception.Should().BeOfType<WorkerPoolShutdownTimeoutException>()
                .Which.InnerException.Should().BeAssignableTo<RedisConnectionException>();
            host.Log().WithId(205).Should().BeEmpty("an outage is not a failure of the worker, even when a job outlasted it");
            host.Log().WithId(202).Should().ContainSingle().Which.Level.Should().Be(LogLevel.Warning);

            connection.Down = false;
            clock.Advance(RestartDelay);
            await EventuallyAsync(async () => (await host.CheckAsync(name)).Status == HealthStatus.Healthy, "the worker runs again");
        }
        finally
        {
            release.SetResult();
        }

        await host.StopAsync().Within();
    }

    /// <summary>
    /// A host whose worker reads through <paramref name="connection"/> and waits <see cref="RestartDelay"/> on
    /// <paramref name="clock"/>, with <paramref name="configure"/>'s options besides.
    /// </summary>
    private static IHost BuildOutageHost(string name, RedisStreamOptions stream, FaultyConnection connection, TestClock clock, Action<RedisStreamWorkerOptions>? configure = null)
    {
        HostApplicationBuilder builder = TestHosts.CreateBuilder().WithConnection(connection.AsConnection());
        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>(name).Configure(o =>
        {
            o.Stream.Use(stream);
            o.RestartDelay = RestartDelay;
            configure?.Invoke(o);
        });
        builder.Services.AddHealthChecks().AddRedisStreamWorker(name);
        return builder.Build();
    }
}
