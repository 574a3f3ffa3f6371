namespace WorkerPool.Benchmarks;

/// <summary>
/// Facts the benchmarks observe besides time and allocation (for example how many work calls were still running when a
/// run completed). Program prints them and saves them next to BenchmarkDotNet's own results.
/// </summary>
internal static class Findings
{
    private static readonly List<string> Lines = [];

    public static void Add(string line)
    {
        lock (Lines)
        {
            Lines.Add(line);
        }
    }

    public static IReadOnlyList<string> Snapshot()
    {
        lock (Lines)
        {
            return [.. Lines];
        }
    }
}
