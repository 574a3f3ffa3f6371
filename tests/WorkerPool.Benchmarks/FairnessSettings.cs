namespace WorkerPool.Benchmarks;

/// <summary>
/// The parameters of the console measurements of caller fairness (<c>--fairness</c>, <c>--long-job</c>,
/// <c>--context-cost</c>), read from the command line. Each launch of a measurement is a fresh child process.
/// </summary>
internal sealed record FairnessSettings
{
    public const string FairnessFlag = "--fairness";
    public const string LongJobFlag = "--long-job";
    public const string ContextCostFlag = "--context-cost";
    private const string LaunchesOption = "--launches";
    private const string ConcurrencyOption = "--concurrency";
    private const string ShapeOption = "--shape";

    /// <summary>Every flag and option this type reads; Program keeps them away from BenchmarkDotNet.</summary>
    public static IReadOnlyList<string> Flags { get; } = [FairnessFlag, LongJobFlag, ContextCostFlag];

    public static IReadOnlyList<string> Options { get; } = [LaunchesOption, ConcurrencyOption, ShapeOption];

    public required string Mode { get; init; }

    /// <summary>Fresh child processes per shape; each figure is reported as the median over them and its range.</summary>
    public required int Launches { get; init; }

    /// <summary>Admission: the pool's MaxWorkers, and the permits of the semaphore it is compared with.</summary>
    public int Workers { get; init; } = 32;

    /// <summary>Admission: how many callers are in progress at any time (a closed loop: a finished caller is replaced).</summary>
    public int Concurrency { get; init; } = 24;

    public required IReadOnlyList<int> QueueCapacities { get; init; }

    /// <summary>Admission: how many callers make one call each, in all.</summary>
    public required IReadOnlyList<int> Callers { get; init; }

    /// <summary>Admission: how many jobs one caller's call runs.</summary>
    public IReadOnlyList<int> FanOuts { get; init; } = [1, 20];

    public int MinDelayMilliseconds { get; init; } = 5;

    public int MaxDelayMilliseconds { get; init; } = 60;

    /// <summary>Long job: workers, short jobs of <see cref="ShortJobMicroseconds"/>, one long job at <see cref="LongJobIndex"/>.</summary>
    public int LongJobWorkers { get; init; } = 2;

    public int LongJobJobs { get; init; } = 200;

    public int LongJobIndex { get; init; } = 5;

    public int ShortJobMicroseconds { get; init; } = 10;

    public int LongJobMilliseconds { get; init; } = 200;

    /// <summary>Context cost: trivial jobs per RunAsync call, on <see cref="ContextWorkers"/> workers.</summary>
    public int ContextJobs { get; init; } = 1_000_000;

    public int ContextWorkers { get; init; } = 2;

    /// <summary>Context cost: measured calls per launch for each of the two cases, alternating.</summary>
    public required int ContextRounds { get; init; }

    public static FairnessSettings Parse(string[] args, bool quick)
    {
        FairnessSettings settings = quick
            ? new() { Mode = "quick", Launches = 3, QueueCapacities = [64, 256, 1024], Callers = [300], ContextRounds = 3 }
            : new() { Mode = "full", Launches = 5, QueueCapacities = [64, 256, 1024], Callers = [300, 900], ContextRounds = 5 };
        if (CommandLine.Value(args, LaunchesOption) is { } launches)
        {
            settings = settings with { Launches = CommandLine.PositiveInt(LaunchesOption, launches) };
        }

        if (CommandLine.Value(args, ConcurrencyOption) is { } concurrency)
        {
            settings = settings with { Concurrency = CommandLine.PositiveInt(ConcurrencyOption, concurrency) };
        }

        if (CommandLine.Value(args, ShapeOption) is { } shape)
        {
            // --shape QUEUES/CALLERS/FANOUTS, for example 256/300/20 or 64,256,1024/900/1: only these admission shapes.
            string[] parts = shape.Split('/');
            if (parts.Length != 3)
            {
                throw new ArgumentException($"{ShapeOption} takes QUEUES/CALLERS/FANOUTS, for example 256/300/20; got '{shape}'.", nameof(args));
            }

            settings = settings with
            {
                QueueCapacities = PositiveInts(parts[0]),
                Callers = PositiveInts(parts[1]),
                FanOuts = PositiveInts(parts[2]),
            };
        }

        return settings;
    }

    /// <summary>The command-line arguments minus every flag and option of this type (and their values).</summary>
    public static string[] Strip(string[] args)
    {
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (Options.Contains(args[i]))
            {
                i++;
            }
            else if (!Flags.Contains(args[i]))
            {
                rest.Add(args[i]);
            }
        }

        return [.. rest];
    }

    private static int[] PositiveInts(string values) => [.. values.Split(',').Select(v => CommandLine.PositiveInt(ShapeOption, v))];
}
