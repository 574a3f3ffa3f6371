namespace ScaleOut;

internal sealed record ProcessResult(string Name, int Done, long Reclaimed, bool Killed);

internal sealed record PhaseResult(
    int Processes, int Jobs, TimeSpan Elapsed, List<ProcessResult> PerProcess, long VictimPending, long VictimLeft, int Duplicates, int Lost)
{
    public double JobsPerSecond => Jobs / Elapsed.TotalSeconds;
}

/// <summary>Prints the results of the three phases as text tables.</summary>
internal static class Report
{
    public static void Print(ScaleOutOptions options, PhaseResult one, PhaseResult many, PhaseResult killed)
    {
        Console.WriteLine("phase                         | time     | jobs/s  | vs 1 process | duplicates | lost");
        Console.WriteLine("------------------------------+----------+---------+--------------+------------+-----");
        foreach ((string label, PhaseResult phase) in new[]
        {
            ("1 process", one),
            ($"{many.Processes} processes", many),
            ($"{killed.Processes} processes, 1 killed", killed),
        })
        {
            Console.WriteLine($"{label,-29} | {phase.Elapsed.TotalSeconds,6:0.00} s | {phase.JobsPerSecond,7:N0} | {phase.JobsPerSecond / one.JobsPerSecond,11:0.00}x | {phase.Duplicates,10:N0} | {phase.Lost,4:N0}");
        }

        Console.WriteLine();
        Console.WriteLine($"{killed.Processes} processes, one killed with SIGKILL after a third of the jobs:");
        Console.WriteLine("process | jobs done | taken over (XAUTOCLAIM) | note");
        Console.WriteLine("--------+-----------+-------------------------+-----");
        foreach (ProcessResult p in killed.PerProcess)
        {
            string note = p.Killed
                ? $"killed holding {killed.VictimPending:N0} unacknowledged; {killed.VictimPending - killed.VictimLeft:N0} taken over by the others"
                : "";
            string reclaimed = p.Killed ? "-" : p.Reclaimed.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
            Console.WriteLine($"{p.Name,-7} | {p.Done,9:N0} | {reclaimed,23} | {note}");
        }

        Console.WriteLine();
        Console.WriteLine($"Done is counted from what the workers record: each pushes a job's number to its own Redis list when the job");
        Console.WriteLine($"completes, before the acknowledgement. Lost = jobs no list holds ({one.Lost + many.Lost + killed.Lost} in total); duplicates = entries");
        Console.WriteLine($"beyond one per job: jobs the killed process completed but did not acknowledge, run again by the others.");
        Console.WriteLine($"Time runs from the first completed job to the moment the group has nothing pending and nothing unread.");
    }
}
