using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using WorkerPool.Testing;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace WorkerPool.Tests.Support;

/// <summary>
/// The base of every test class: after each test, no pool worker may be alive anywhere in the process, and no task
/// exception may have gone unobserved since the suite started. Test classes run one at a time so that the process-wide
/// check blames the right test; the concurrency under test happens inside each test.
/// </summary>
public abstract class PoolTest : IAsyncLifetime
{
    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await WorkerPoolLeakCheck.VerifyNoneAsync();
        UnobservedExceptions.AssertNone();
    }
}

/// <summary>
/// Records every <see cref="TaskScheduler.UnobservedTaskException"/> raised in the test process, except those made on
/// purpose, with <see cref="DeliberatelyUnobservedException"/>, to show that the measurement works.
/// </summary>
internal static class UnobservedExceptions
{
    private static readonly ConcurrentQueue<Exception> Seen = new();

    [ModuleInitializer]
    internal static void Start() => TaskScheduler.UnobservedTaskException += (_, e) =>
    {
        if (!e.Exception.InnerExceptions.All(static inner => inner is DeliberatelyUnobservedException))
        {
            Seen.Enqueue(e.Exception);
        }
    };

    /// <summary>Forces finalisation of unreachable faulted tasks, then fails if any exception went unobserved.</summary>
    public static void AssertNone()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Seen.Should().BeEmpty("every task exception inside the pool must be observed");
    }
}

/// <summary>Thrown only by tests that leave a task fault unobserved on purpose; the suite-wide check ignores it.</summary>
internal sealed class DeliberatelyUnobservedException() : Exception("a task fault left unobserved on purpose");
