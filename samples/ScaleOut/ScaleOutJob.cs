namespace ScaleOut;

/// <summary>One job: its number (the key used to count done, duplicate and lost jobs) and how long it awaits.</summary>
internal sealed record ScaleOutJob(int Number, int DelayMs);

/// <summary>The Redis keys of one phase, shared by the orchestrator and its workers.</summary>
internal static class Keys
{
    public const string Group = "scaleout";

    /// <summary>A list per worker process: the number of every job it completed, pushed before the acknowledgement.</summary>
    public static string Done(string stream, string worker) => $"{stream}:done:{worker}";

    /// <summary>A hash of the counters each worker that stops gracefully leaves behind.</summary>
    public static string Stats(string stream, string worker) => $"{stream}:stats:{worker}";
}
