using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace WorkerPool.Extensions.Hosting.Tests;

/// <summary>
/// Gates and records shared by the handlers of one test (a singleton of its host). Every wait is on a gate the test
/// opens: no test sleeps.
/// </summary>
internal sealed class TestGates
{
    /// <summary>Set when a "wait" or "stubborn" job has started.</summary>
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Opened by the test: a "wait" job then returns, a "stubborn" job that saw cancellation then returns.</summary>
    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when a "stubborn" job saw its token cancelled (it then waits for <see cref="Release"/>).</summary>
    public TaskCompletionSource SawCancellation { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when a "stubborn" job has returned.</summary>
    public TaskCompletionSource Returned { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Every scope probe made, in order.</summary>
    public ConcurrentQueue<ScopeProbe> Probes { get; } = new();
}

/// <summary>A scoped service that records its disposal: one per job's DI scope.</summary>
internal sealed class ScopeProbe : IAsyncDisposable
{
    private int _disposed;

    public ScopeProbe(TestGates gates) => gates.Probes.Enqueue(this);

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public ValueTask DisposeAsync()
    {
        Volatile.Write(ref _disposed, 1);
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// The handler of the tests. The job says what to do: "ok" returns, "throw" throws, "wait" waits for
/// <see cref="TestGates.Release"/> (observing its token), "stubborn" waits for cancellation and then, before
/// returning, for <see cref="TestGates.Release"/>.
/// </summary>
internal sealed class TestHandler(TestGates gates, ScopeProbe probe) : IJobHandler<string, string>
{
    public ScopeProbe Probe => probe;

    public async ValueTask<string> HandleAsync(string job, CancellationToken cancellationToken)
    {
        switch (job)
        {
            case "ok":
                return "done";
            case "throw":
                throw new InvalidOperationException("the job failed");
            case "wait":
                gates.Started.TrySetResult();
                await gates.Release.Task.WaitAsync(cancellationToken);
                return "released";
            case "stubborn":
                gates.Started.TrySetResult();
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                    return "not cancelled";
                }
                catch (OperationCanceledException)
                {
                    gates.SawCancellation.TrySetResult();
                    await gates.Release.Task;
                    gates.Returned.TrySetResult();
                    throw;
                }

            default:
                throw new ArgumentOutOfRangeException(nameof(job), job, "unknown test job");
        }
    }
}

/// <summary>Builds the real hosts the tests run.</summary>
internal static class TestHosts
{
    /// <summary>A unique pool name, so that tests running in parallel can check their own pools for leaks.</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>
    /// An empty host (no configuration sources, no logging) with the given configuration, a shutdown timeout that never
    /// elapses by itself (tests cancel the token they give StopAsync instead), the test gates and the scope probe.
    /// </summary>
    public static HostApplicationBuilder CreateBuilder(IDictionary<string, string?>? configuration = null)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(configuration ?? new Dictionary<string, string?>());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = Timeout.InfiniteTimeSpan);
        builder.Services.AddSingleton<TestGates>();
        builder.Services.AddScoped<ScopeProbe>();
        return builder;
    }

    public static BoundedWorkerPool<string, string> Pool(this IHost host, string name) =>
        host.Services.GetRequiredKeyedService<BoundedWorkerPool<string, string>>(name);

    /// <summary>Asserts that the pool is disposed: it refuses a new run at the call.</summary>
    public static void ShouldBeDisposed(this BoundedWorkerPool<string, string> pool, string because = "")
    {
        FluentActions.Invoking(() => { _ = pool.RunAsync(["ok"]); }).Should().Throw<ObjectDisposedException>(because);
    }

    public static TestGates Gates(this IHost host) => host.Services.GetRequiredService<TestGates>();
}
