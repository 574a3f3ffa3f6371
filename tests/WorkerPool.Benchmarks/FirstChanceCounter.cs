namespace WorkerPool.Benchmarks;

/// <summary>
/// Counts the first-chance exceptions thrown anywhere in this process between <see cref="Start"/> and
/// <see cref="Stop"/>: every throw, including those that are caught and those rethrown by an await.
/// </summary>
internal static class FirstChanceCounter
{
    private static int _counting;
    private static int _count;

    static FirstChanceCounter() => AppDomain.CurrentDomain.FirstChanceException += (_, _) =>
    {
        if (Volatile.Read(ref _counting) != 0)
        {
            Interlocked.Increment(ref _count);
        }
    };

    public static void Start()
    {
        Volatile.Write(ref _count, 0);
        Volatile.Write(ref _counting, 1);
    }

    public static int Stop()
    {
        Volatile.Write(ref _counting, 0);
        return Volatile.Read(ref _count);
    }
}
