namespace WorkerPool.Tests.Support;

/// <summary>Forced garbage collection for tests that check what is still reachable.</summary>
internal static class Reachability
{
    /// <summary>
    /// How many collections <see cref="CollectUntilAsync"/> tries. One extra round has always been enough; the rest is margin.
    /// </summary>
    public const int MaxRounds = 10;

    /// <summary>A full, blocking collection that also runs the finalisers it made due, and collects what they released.</summary>
    public static void ForceFullGc()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>
    /// Forces full collections until <paramref name="done"/> returns true, at most <see cref="MaxRounds"/> times, and
    /// returns whether it did.
    /// </summary>
    /// <remarks>
    /// The test yields between rounds. The continuation that resumed the test after a helper method may have run inline
    /// on the thread that completed that helper. That thread is then still inside the helper's state machine, which the
    /// runtime clears only once the continuation returns, so the first collection can still see the helper's locals.
    /// Once the thread has unwound they are gone. An object that something really holds survives every round, so the
    /// check loses nothing.
    /// </remarks>
    public static async Task<bool> CollectUntilAsync(Func<bool> done)
    {
        for (int round = 0; round < MaxRounds; round++)
        {
            if (round > 0)
            {
                await Task.Yield();
            }

            ForceFullGc();
            if (done())
            {
                return true;
            }
        }

        return false;
    }
}
