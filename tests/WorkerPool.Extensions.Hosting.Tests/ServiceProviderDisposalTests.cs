using Microsoft.Extensions.DependencyInjection;

namespace WorkerPool.Extensions.Hosting.Tests;

public sealed class ServiceProviderDisposalTests
{
    // The container disposes each service it built, and its synchronous Dispose throws on one that implements only
    // IAsyncDisposable. It disposes whatever a factory returned, so no registration can keep the pool from it: the pool
    // itself has to implement IDisposable.
    [Fact]
    public void Dispose_PoolResolved_DoesNotThrow()
    {
        var services = new ServiceCollection();
        services.AddSingleton<TestGates>();
        services.AddScoped<ScopeProbe>();
        services.AddWorkerPool<string, string, TestHandler>("orders");
        ServiceProvider provider = services.BuildServiceProvider();
        BoundedWorkerPool<string, string> pool = provider.GetRequiredKeyedService<BoundedWorkerPool<string, string>>("orders");

        provider.Invoking(p => p.Dispose()).Should().NotThrow();
        pool.ShouldBeDisposed();
    }

    [Fact]
    public async Task DisposeAsync_PoolResolved_DisposesIt()
    {
        var services = new ServiceCollection();
        services.AddSingleton<TestGates>();
        services.AddScoped<ScopeProbe>();
        services.AddWorkerPool<string, string, TestHandler>("orders");
        ServiceProvider provider = services.BuildServiceProvider();
        BoundedWorkerPool<string, string> pool = provider.GetRequiredKeyedService<BoundedWorkerPool<string, string>>("orders");
        (await pool.SubmitAsync("ok")).Should().Be("done");

        await provider.DisposeAsync();

        pool.ShouldBeDisposed();
    }
}
