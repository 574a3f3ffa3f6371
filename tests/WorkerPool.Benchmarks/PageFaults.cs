using System.Globalization;

namespace WorkerPool.Benchmarks;

/// <summary>
/// The minor page faults of this process so far (<c>minflt</c> in <c>/proc/self/stat</c>): a first touch of memory the
/// process has not used before. Where each costs microseconds (in some virtual machines), a contender that writes fresh
/// memory (RunAsync's list of outcomes) pays for them, one that writes into an array reused from round to round does not.
/// </summary>
internal static class PageFaults
{
    /// <summary>The count so far, or -1 where <c>/proc/self/stat</c> cannot be read (not Linux).</summary>
    public static long Minor()
    {
        string stat;
        try
        {
            stat = File.ReadAllText("/proc/self/stat");
        }
        catch (IOException)
        {
            return -1;
        }
        catch (UnauthorizedAccessException)
        {
            return -1;
        }

        // The name in brackets may hold spaces: count fields after its closing bracket. There, field 3 (state) comes
        // first, so field 10 (minflt) is the eighth.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return fields.Length > 7 && long.TryParse(fields[7], NumberStyles.None, CultureInfo.InvariantCulture, out long faults) ? faults : -1;
    }
}
