using System.Globalization;

namespace LeakDemo;

/// <summary>Writes the process samples of both endpoints as CSV.</summary>
public static class TimeSeriesCsv
{
    /// <summary>The header line.</summary>
    public const string Header = "endpoint,t_ms,live_tasks,active_workers,heap_bytes,working_set_bytes";

    /// <summary>Writes the header, then one line per sample: first /leaky's, then /pooled's, each in time order.</summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="result">The measurements.</param>
    public static void Write(TextWriter writer, LeakDemoResult result)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(result);
        writer.WriteLine(Header);
        foreach (EndpointReport report in (ReadOnlySpan<EndpointReport>)[result.Leaky, result.Pooled])
        {
            foreach (ProcessSample sample in report.Samples)
            {
                writer.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{report.Endpoint},{(long)sample.Time.TotalMilliseconds},{sample.LiveSubJobs},{sample.ActiveWorkers},{sample.HeapBytes},{sample.WorkingSetBytes}"));
            }
        }
    }
}
