using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using WorkerPool.Redis.Tests;

namespace WorkerPool.Redis.Hosting.Tests.Support;

internal static class TestHosts
{
    /// <summary>A unique worker name, so that tests running in parallel never share a registration.</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>
    /// An empty host with the given configuration, a shutdown timeout that never elapses by itself (so a stop that returns
    /// was not cut short by it), the test jobs, the scope probe, a log that keeps every entry, and health checks.
    /// </summary>
    public static HostApplicationBuilder CreateBuilder(IDictionary<string, string?>? configuration = null)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(configuration ?? new Dictionary<string, string?>());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = Timeout.InfiniteTimeSpan);
        builder.Services.AddSingleton<TestJobs>();
        builder.Services.AddScoped<ScopeProbe>();
        var log = new EventLog();
        builder.Services.AddSingleton(log);
        builder.Logging.AddProvider(log);
        builder.Services.AddHealthChecks();
        return builder;
    }

    /// <summary>Registers the fixture's connection, which the host does not dispose (it did not create it).</summary>
    public static HostApplicationBuilder WithConnection(this HostApplicationBuilder builder, IConnectionMultiplexer connection)
    {
        builder.Services.AddSingleton(connection);
        return builder;
    }

    /// <summary>Takes the settings of a test's stream: its own key, and short delays.</summary>
    public static void Use(this RedisStreamOptions target, RedisStreamOptions source)
    {
        target.StreamKey = source.StreamKey;
        target.GroupName = source.GroupName;
        target.ConsumerName = source.ConsumerName;
        target.DeadLetterStreamKey = source.DeadLetterStreamKey;
        target.MaxDeliveries = source.MaxDeliveries;
        target.RetryDelay = source.RetryDelay;
        target.ClaimMinIdleTime = source.ClaimMinIdleTime;
        target.ClaimInterval = source.ClaimInterval;
        target.PollMinDelay = source.PollMinDelay;
        target.PollMaxDelay = source.PollMaxDelay;
        target.ConnectionRetryTimeout = source.ConnectionRetryTimeout;
    }

    public static TestJobs Jobs(this IHost host) => host.Services.GetRequiredService<TestJobs>();

    public static EventLog Log(this IHost host) => host.Services.GetRequiredService<EventLog>();

    public static RedisStreamWorker<int, int> Worker(this IHost host, string name) =>
        host.Services.GetRequiredKeyedService<RedisStreamWorker<int, int>>(name);

    public static BackgroundService Service(this IHost host) =>
        host.Services.GetServices<IHostedService>().OfType<BackgroundService>().Single();

    public static async Task<HealthReportEntry> CheckAsync(this IHost host, string name)
    {
        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>()
            .CheckHealthAsync(registration => registration.Name == "redis-stream-worker:" + name);
        return report.Entries["redis-stream-worker:" + name];
    }
}
