namespace WorkerPool.Benchmarks;

/// <summary>
/// What one asynchronous <see cref="SemaphoreSlim.WaitAsync()"/> allocates when it has to wait (its waiter task).
/// Parallel.ForEachAsync over an <see cref="IEnumerable{T}"/> takes a SemaphoreSlim around every MoveNext, so with a
/// body that allocates nothing, its bytes per job divided by this size is how many of its elements had to wait for the
/// enumerator asynchronously (see docs/benchmarks.md).
/// </summary>
internal static class SemaphoreWaiter
{
    public static long MeasureBytes()
    {
        using var semaphore = new SemaphoreSlim(0, 1);
        long bytes = 0;

        // The first wait also pays for one-time allocations; the second is what every later wait costs.
        for (int attempt = 0; attempt < 2; attempt++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            Task wait = semaphore.WaitAsync();
            bytes = GC.GetTotalAllocatedBytes(precise: true) - before;
            semaphore.Release();
            wait.GetAwaiter().GetResult();
        }

        return bytes;
    }
}
