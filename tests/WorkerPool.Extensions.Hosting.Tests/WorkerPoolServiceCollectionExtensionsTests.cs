using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WorkerPool.Testing;

namespace WorkerPool.Extensions.Hosting.Tests;

public sealed class WorkerPoolServiceCollectionExtensionsTests
{
    [Fact]
    public async Task AddWorkerPool_ResolvedByName_IsOneKeyedSingletonNamedAfterIt()
    {
        string name = TestHosts.UniqueName("orders");
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddWorkerPool<string, string, TestHandler>(name);
        using IHost host = builder.Build();

        BoundedWorkerPool<string, string> pool = host.Services.GetRequiredKeyedService<BoundedWorkerPool<string, string>>(name);

        host.Pool(name).Should().BeSameAs(pool);
        pool.Name.Should().Be(name);
        (await pool.SubmitAsync("ok")).Should().Be("done");
        await pool.DisposeAsync();
    }

    [Fact]
    public void Options_NameConfiguredBeforeTheRegistration_IsKept()
    {
        // The registration's name is only the default of WorkerPoolOptions.Name: a Configure registered earlier (as a
        // shared library of defaults may do) keeps its name, as one registered later does.
        var services = new ServiceCollection();
        services.Configure<WorkerPoolOptions>("orders", options => options.Name = "orders-eu");
        services.AddWorkerPool<string, string, TestHandler>("orders");
        services.AddWorkerPool<string, string, TestHandler>("invoices");
        using ServiceProvider provider = services.BuildServiceProvider();

        IOptionsMonitor<WorkerPoolOptions> options = provider.GetRequiredService<IOptionsMonitor<WorkerPoolOptions>>();

        options.Get("orders").Name.Should().Be("orders-eu");
        options.Get("invoices").Name.Should().Be("invoices");
    }

    [Fact]
    public async Task AddWorkerPool_TwoNames_TwoPools()
    {
        string first = TestHosts.UniqueName("first");
        string second = TestHosts.UniqueName("second");
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddWorkerPool<string, string, TestHandler>(first);
        builder.Services.AddWorkerPool<string, string, TestHandler>(second);
        using IHost host = builder.Build();

        host.Pool(first).Should().NotBeSameAs(host.Pool(second));
        host.Pool(second).Name.Should().Be(second);
        await host.Pool(first).DisposeAsync();
        await host.Pool(second).DisposeAsync();
    }

    [Fact]
    public void AddWorkerPool_BadArguments_ThrowAtTheCall()
    {
        var services = new ServiceCollection();

        FluentActions.Invoking(() => ((IServiceCollection)null!).AddWorkerPool<string, string, TestHandler>("orders"))
            .Should().Throw<ArgumentNullException>().WithParameterName("services");
        FluentActions.Invoking(() => services.AddWorkerPool<string, string, TestHandler>(null!))
            .Should().Throw<ArgumentNullException>().WithParameterName("name");
        FluentActions.Invoking(() => services.AddWorkerPool<string, string, TestHandler>(""))
            .Should().Throw<ArgumentException>().WithParameterName("name");
        FluentActions.Invoking(() => services.AddWorkerPool<string, string, TestHandler>(" "))
            .Should().Throw<ArgumentException>().WithParameterName("name");
        services.Should().BeEmpty();
    }

    [Fact]
    public void AddWorkerPool_SameNameTwice_ThrowsNamingIt()
    {
        var services = new ServiceCollection();
        services.AddWorkerPool<string, string, TestHandler>("orders");

        FluentActions.Invoking(() => services.AddWorkerPool<string, string, TestHandler>("orders"))
            .Should().Throw<InvalidOperationException>().WithMessage("*'orders'*registered already*");
        FluentActions.Invoking(() => services.AddWorkerPool<int, int, IntHandler>("orders"))
            .Should().Throw<InvalidOperationException>().WithMessage("*'orders'*registered already*");
    }

    [Fact]
    public async Task RunAsync_EachJob_ResolvesItsHandlerFromItsOwnScopeDisposedWhenTheJobEnds()
    {
        string name = TestHosts.UniqueName("scopes");
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddWorkerPool<string, string, TestHandler>(name);
        using IHost host = builder.Build();
        await host.StartAsync();

        IReadOnlyList<JobResult<string, string>> results = await host.Pool(name).RunAsync(["ok", "throw", "ok"]);

        results.Select(r => r.Status).Should().Equal(JobStatus.Succeeded, JobStatus.Failed, JobStatus.Succeeded);
        ScopeProbe[] probes = [.. host.Gates().Probes];
        probes.Should().HaveCount(3).And.OnlyHaveUniqueItems();
        probes.Should().OnlyContain(p => p.IsDisposed, "each job's scope is disposed when the job ends, also when it throws");
        await host.StopAsync();
        await WorkerPoolLeakCheck.VerifyNoneAsync(name);
    }

    [Fact]
    public async Task RunAsync_CallerCancelsWhileJobRuns_ScopeDisposedBeforeRunReturns()
    {
        string name = TestHosts.UniqueName("cancel");
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddWorkerPool<string, string, TestHandler>(name);
        using IHost host = builder.Build();
        await host.StartAsync();
        using var cts = new CancellationTokenSource();

        Task run = host.Pool(name).RunAsync(["wait"], cts.Token);
        await host.Gates().Started.Task;
        await cts.CancelAsync();

        await run.Invoking(r => r).Should().ThrowAsync<WorkerPoolCanceledException<string, string>>();
        host.Gates().Probes.Should().ContainSingle().Which.IsDisposed.Should().BeTrue();
        await host.StopAsync();
        await WorkerPoolLeakCheck.VerifyNoneAsync(name);
    }

    [Fact]
    public async Task AddWorkerPool_HandlerRegisteredAlready_KeepsThatRegistration()
    {
        string name = TestHosts.UniqueName("singleton-handler");
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddSingleton<TestHandler>();
        builder.Services.AddWorkerPool<string, string, TestHandler>(name);
        using IHost host = builder.Build();

        await host.Pool(name).RunAsync(["ok", "ok"]);

        host.Gates().Probes.Should().ContainSingle("the one singleton handler got one probe");
        await host.Pool(name).DisposeAsync();
    }

    [Fact]
    public async Task AddWorkerPool_TimeProviderRegistered_ThePoolTimesJobsWithIt()
    {
        string name = TestHosts.UniqueName("clocked");
        var clock = new FakeTimeProvider();
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.Services.AddWorkerPool<string, string, TestHandler>(name).Configure(o => o.JobTimeout = TimeSpan.FromSeconds(10));
        using IHost host = builder.Build();

        host.Services.GetRequiredService<IOptionsMonitor<WorkerPoolOptions>>().Get(name).TimeProvider.Should().BeSameAs(clock);
        Task<string> job = host.Pool(name).SubmitAsync("wait").AsTask();
        await host.Gates().Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        clock.Advance(TimeSpan.FromSeconds(10));

        await job.Invoking(j => j.WaitAsync(TimeSpan.FromSeconds(30))).Should().ThrowAsync<TimeoutException>();
        await host.Pool(name).DisposeAsync();
    }

    [Fact]
    public void AddWorkerPool_TimeProviderSetInConfigure_WinsOverTheRegisteredOne()
    {
        string name = TestHosts.UniqueName("clocked");
        var registered = new FakeTimeProvider();
        var own = new FakeTimeProvider();
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddSingleton<TimeProvider>(registered);
        builder.Services.AddWorkerPool<string, string, TestHandler>(name).Configure(o => o.TimeProvider = own);
        using IHost host = builder.Build();

        host.Services.GetRequiredService<IOptionsMonitor<WorkerPoolOptions>>().Get(name).TimeProvider.Should().BeSameAs(own);
    }

    [Fact]
    public void AddWorkerPool_NoTimeProviderRegistered_UsesTheSystemClock()
    {
        string name = TestHosts.UniqueName("clocked");
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddWorkerPool<string, string, TestHandler>(name);
        using IHost host = builder.Build();

        host.Services.GetRequiredService<IOptionsMonitor<WorkerPoolOptions>>().Get(name).TimeProvider.Should().BeSameAs(TimeProvider.System);
    }

    private sealed class IntHandler : IJobHandler<int, int>
    {
        public ValueTask<int> HandleAsync(int job, CancellationToken cancellationToken) => ValueTask.FromResult(job);
    }
}
