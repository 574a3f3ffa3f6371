using System.Runtime.CompilerServices;

namespace WorkerPool.Tests.Engine;

/// <summary>The process-wide registry holds pools weakly, and forgets collected ones.</summary>
public sealed class PoolRegistryTests
{
    private const int Made = 200;

    [Fact]
    public void Register_AfterManyPoolsWereCollected_TheRegistryHasDroppedThem()
    {
        int before = PoolRegistry.Count;
        WeakReference[] made = MakePools();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        made.Count(pool => pool.IsAlive).Should().Be(0, "a pool that nobody holds is collected, disposed or not");

        // Registering a pool prunes the collected ones.
        using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
        PoolRegistry.Count.Should().BeLessThan(before + Made, "the registry does not grow with every pool ever made");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference[] MakePools()
    {
        var made = new WeakReference[Made];
        for (int i = 0; i < Made; i++)
        {
            var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job));
            if (i % 2 == 0)
            {
                pool.Dispose();
            }

            made[i] = new WeakReference(pool);
        }

        return made;
    }
}
