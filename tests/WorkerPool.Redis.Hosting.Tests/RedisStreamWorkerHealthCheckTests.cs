using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;
using WorkerPool.Redis.Hosting.Tests.Support;
using WorkerPool.Redis.Tests;
using WorkerPool.Tests.Support;
using static WorkerPool.Redis.Tests.TestSupport;

namespace WorkerPool.Redis.Hosting.Tests;

[Collection(RedisServerDefinition.Name)]
public sealed class RedisStreamWorkerHealthCheckTests(RedisFixture redis)
{
    private readonly IDatabase _db = redis.Connection.GetDatabase();

    [Fact]
    public async Task CheckHealth_Running_HealthyWithTheWorkersCounters()
    {
        string name = TestHosts.UniqueName("health");
        RedisStreamOptions stream = Options();
        await new RedisStreamPublisher<int>(_db, stream).PublishManyAsync([1, 2]);
        HostApplicationBuilder builder = TestHosts.CreateBuilder().WithConnection(redis.Connection);
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>(name).Configure(o =>
        {
            o.Stream.Use(stream);
            o.Pool.MaxWorkers = 2;
            o.Pool.QueueCapacity = 3;
        });
        builder.Services.AddHealthChecks().AddRedisStreamWorker(name, tags: ["ready"]);
        using IHost host = builder.Build();
        await host.StartAsync();
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, stream), "both messages are acknowledged");
        await EventuallyAsync(() => Task.FromResult(host.Worker(name).GetStatistics().Acknowledged == 2), "the worker has counted both");

        HealthReportEntry entry = await host.CheckAsync(name);

        entry.Status.Should().Be(HealthStatus.Healthy);
        entry.Tags.Should().Equal("ready");
        entry.Description.Should().Be($"Redis stream worker '{name}' is running: it holds 0 of at most 5 messages.");
        entry.Data.Should().Equal(new Dictionary<string, object>
        {
            ["Status"] = "Running",
            ["Restarts"] = 0,
            ["MaxOutstanding"] = 5,
            ["Outstanding"] = 0,
            ["Read"] = 2L,
            ["Redelivered"] = 0L,
            ["Reclaimed"] = 0L,
            ["Acknowledged"] = 2L,
            ["Retried"] = 0L,
            ["DeadLettered"] = 0L,
        });
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task CheckHealth_BeforeTheHostStarted_FailureStatus()
    {
        string name = TestHosts.UniqueName("health-not-started");
        HostApplicationBuilder builder = TestHosts.CreateBuilder().WithConnection(redis.Connection);
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>(name).Configure(o => o.Stream.Use(Options()));
        builder.Services.AddHealthChecks().AddRedisStreamWorker(name);
        using IHost host = builder.Build();

        HealthReportEntry entry = await host.CheckAsync(name);

        entry.Status.Should().Be(HealthStatus.Unhealthy);
        entry.Description.Should().Contain("has not started");
        entry.Data["Status"].Should().Be("NotStarted");
    }

    [Fact]
    public async Task CheckHealth_NoSuchWorker_UnhealthyNamingIt()
    {
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddHealthChecks().AddRedisStreamWorker("missing");
        using IHost host = builder.Build();

        HealthReportEntry entry = await host.CheckAsync("missing");

        entry.Status.Should().Be(HealthStatus.Unhealthy);
        entry.Exception.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Contain("'missing'");
    }

    [Fact]
    public void AddRedisStreamWorker_HealthCheck_IsNamedAfterTheWorker()
    {
        var services = new ServiceCollection();
        services.AddHealthChecks().AddRedisStreamWorker("orders");

        HealthCheckServiceOptions options = services.BuildServiceProvider()
            .GetRequiredService<Microsoft.Extensions.Options.IOptions<HealthCheckServiceOptions>>().Value;

        options.Registrations.Should().ContainSingle().Which.Name.Should().Be("redis-stream-worker:orders");
    }
}
