using LeakDemo;

namespace WorkerPool.LeakDemo.Tests;

/// <summary>
/// Runs the demo once, at a small size, for every test of <see cref="LeakDemoRunnerTests"/>. A few hundred requests are
/// enough for the shape: thousands of blocked tasks behind /leaky, a bounded and quickly idle pool behind /pooled.
/// </summary>
public sealed class LeakDemoRunFixture : IAsyncLifetime
{
    public static readonly LeakDemoOptions Options = new()
    {
        Requests = 300,
        Concurrency = 8,
        MaxWorkers = 64,
        ClientTimeout = TimeSpan.FromSeconds(5),
        GracePeriod = TimeSpan.FromSeconds(1),
    };

    public LeakDemoResult Result { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        // RunAsync closes /leaky's abandoned channels and waits for every blocked task to end before it returns, and
        // stops Kestrel, so the test process keeps nothing the demo started.
        Result = await LeakDemoRunner.RunAsync(Options, progress: null, timeout.Token);
    }

    public Task DisposeAsync() => Task.CompletedTask;
}
