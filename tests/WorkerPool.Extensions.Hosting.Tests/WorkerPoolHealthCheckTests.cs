using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace WorkerPool.Extensions.Hosting.Tests;

public sealed class WorkerPoolHealthCheckTests
{
    [Fact]
    public async Task CheckHealth_PoolWithRoom_HealthyWithStatistics()
    {
        string name = TestHosts.UniqueName("health");
        using IHost host = Build(name, maxWorkers: 2, queueCapacity: 4);
        await host.StartAsync();
        await host.Pool(name).RunAsync(["ok", "throw"]);

        HealthReportEntry entry = await CheckAsync(host, name);

        entry.Status.Should().Be(HealthStatus.Healthy);
        entry.Data.Should().Contain(new Dictionary<string, object>
        {
            ["MaxWorkers"] = 2,
            ["QueueCapacity"] = 4,
            ["QueuedJobs"] = 0,
            ["Succeeded"] = 1L,
            ["Failed"] = 1L,
        });
        await host.StopAsync();
    }

    [Fact]
    public async Task CheckHealth_QueueFull_Degraded()
    {
        string name = TestHosts.UniqueName("health-full");
        using IHost host = Build(name, maxWorkers: 1, queueCapacity: 1);
        await host.StartAsync();
        BoundedWorkerPool<string, string> pool = host.Pool(name);

        // One job holds the only worker; the next one waits in the queue, which then is full.
        Task<IReadOnlyList<JobResult<string, string>>> run = pool.RunAsync(["wait", "ok"]);
        await host.Gates().Started.Task;
        await UntilAsync(() => pool.GetStatistics().QueuedJobs == 1);

        HealthReportEntry entry = await CheckAsync(host, name);

        entry.Status.Should().Be(HealthStatus.Degraded);
        entry.Description.Should().Contain("full");
        entry.Data["QueuedJobs"].Should().Be(1);
        host.Gates().Release.SetResult();
        await run;
        (await CheckAsync(host, name)).Status.Should().Be(HealthStatus.Healthy);
        await host.StopAsync();
    }

    [Fact]
    public async Task CheckHealth_AfterHostStopped_FailureStatus()
    {
        string name = TestHosts.UniqueName("health-stopped");
        using IHost host = Build(name, maxWorkers: 1, queueCapacity: 1);
        await host.StartAsync();
        _ = host.Pool(name);
        await host.StopAsync();

        HealthReportEntry entry = await CheckAsync(host, name);

        entry.Status.Should().Be(HealthStatus.Unhealthy);
        entry.Description.Should().Contain("disposed");
    }

    [Fact]
    public async Task CheckHealth_NoSuchPool_Unhealthy()
    {
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddHealthChecks().AddWorkerPool("missing");
        using IHost host = builder.Build();

        HealthReportEntry entry = await CheckAsync(host, "missing");

        entry.Status.Should().Be(HealthStatus.Unhealthy);
        entry.Exception.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Contain("'missing'");
    }

    [Fact]
    public void AddWorkerPool_BadArguments_ThrowAtTheCall()
    {
        IHealthChecksBuilder builder = new ServiceCollection().AddHealthChecks();

        FluentActions.Invoking(() => ((IHealthChecksBuilder)null!).AddWorkerPool("orders"))
            .Should().Throw<ArgumentNullException>().WithParameterName("builder");
        FluentActions.Invoking(() => builder.AddWorkerPool(null!))
            .Should().Throw<ArgumentNullException>().WithParameterName("name");
        FluentActions.Invoking(() => builder.AddWorkerPool(" "))
            .Should().Throw<ArgumentException>().WithParameterName("name");
    }

    private static IHost Build(string name, int maxWorkers, int queueCapacity)
    {
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddWorkerPool<string, string, TestHandler>(name).Configure(o =>
        {
            o.MaxWorkers = maxWorkers;
            o.QueueCapacity = queueCapacity;
        });
        builder.Services.AddHealthChecks().AddWorkerPool(name);
        return builder.Build();
    }

    private static async Task<HealthReportEntry> CheckAsync(IHost host, string name)
    {
        HealthReport report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        return report.Entries["workerpool:" + name];
    }

    /// <summary>Yields until <paramref name="condition"/> holds: for state the pool reaches on another thread, with no event to await.</summary>
    private static async Task UntilAsync(Func<bool> condition)
    {
        using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            giveUp.Token.ThrowIfCancellationRequested();
            await Task.Yield();
        }
    }
}
