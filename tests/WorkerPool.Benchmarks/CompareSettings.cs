namespace WorkerPool.Benchmarks;

/// <summary>
/// The parameters of the side-by-side comparison (<c>--compare</c>, with <c>--quick</c>, <c>--launches N</c> and
/// <c>--only W[,W...]</c>): each launch is a fresh child process that measures the pool and its peers, interleaved, on
/// every workload, or on the ones <c>--only</c> names.
/// </summary>
internal sealed record CompareSettings
{
    public const string Flag = "--compare";
    private const string QuickFlag = "--quick";
    private const string LaunchesOption = "--launches";
    private const string OnlyOption = "--only";

    /// <summary>Every workload, in the order a launch measures them and the report shows them.</summary>
    public static IReadOnlyList<string> AllWorkloads { get; } =
        [CompareWorkloads.Trivial, CompareWorkloads.Submit, CompareWorkloads.Cancellation, CompareWorkloads.Latency, CompareWorkloads.ManyOwners];

    /// <summary>The sizes the results in docs/benchmarks.md are quoted for.</summary>
    public static CompareSettings Full { get; } = new()
    {
        Mode = "full",
        Launches = 5,
        Rounds = 5,
        CancellationRounds = 10,
        WarmUp = TimeSpan.FromSeconds(3),
        TrivialJobs = 1_000_000,
        CallsPerCaller = 1_000,
        LatencyJobs = 6_400,
        Owners = 1_000,
    };

    /// <summary>Smoke-run sizes (<c>--quick</c>): every workload and contender, a tenth of the work or less.</summary>
    public static CompareSettings Quick { get; } = Full with
    {
        Mode = "quick",
        Launches = 3,
        Rounds = 3,
        CancellationRounds = 3,
        WarmUp = TimeSpan.FromSeconds(0.5),
        TrivialJobs = 100_000,
        CallsPerCaller = 100,
        LatencyJobs = 1_280,
        Owners = 100,
    };

    public required string Mode { get; init; }

    /// <summary>The workloads measured: all of them unless <c>--only</c> names some.</summary>
    public IReadOnlyList<string> Workloads { get; init; } = AllWorkloads;

    /// <summary>Whether <paramref name="workload"/> is measured.</summary>
    public bool Measures(string workload) => Workloads.Contains(workload);

    /// <summary>Fresh child processes; each figure is reported as the median over them and its range.</summary>
    public required int Launches { get; init; }

    /// <summary>Measured rounds per workload and launch, after the warm-up; a round runs every contender once.</summary>
    public required int Rounds { get; init; }

    /// <summary>Measured rounds of the cancellation workload, whose rounds are short and noisy.</summary>
    public required int CancellationRounds { get; init; }

    /// <summary>
    /// How long each workload warms up before its measured rounds: whole rounds, at least one, until this much time has
    /// passed. The JIT replaces a method's first code with optimised code only after it has run for a while, on a
    /// background thread: in a console loop, SubmitAsync read about three times slower in its first seconds than later.
    /// </summary>
    public required TimeSpan WarmUp { get; init; }

    /// <summary>Workers for the trivial, SubmitAsync and many-owners workloads.</summary>
    public int Workers { get; init; } = 2;

    /// <summary>Trivial jobs: how many jobs one call runs.</summary>
    public required int TrivialJobs { get; init; }

    /// <summary>Trivial jobs: the pool's QueueCapacity for RunAsync (the default).</summary>
    public int RunQueueCapacity { get; init; } = 1_024;

    /// <summary>Trivial jobs: the QueueCapacity values StreamAsync is measured at.</summary>
    public IReadOnlyList<int> StreamQueueCapacities { get; init; } = [64, 1_024];

    /// <summary>Trivial jobs: the capacity of the hand-written bounded channel.</summary>
    public int ChannelCapacity { get; init; } = 64;

    /// <summary>SubmitAsync: concurrent callers, each submitting <see cref="CallsPerCaller"/> single jobs one after the other.</summary>
    public int Callers { get; init; } = 64;

    public required int CallsPerCaller { get; init; }

    /// <summary>Cancellation: jobs parked on their token, with as many workers, when the token is cancelled.</summary>
    public int CancellationJobs { get; init; } = 1_000;

    /// <summary>Latency-bound: jobs, each awaiting <c>Task.Delay(LatencyDelayMilliseconds)</c>, on <see cref="LatencyWorkers"/> workers.</summary>
    public required int LatencyJobs { get; init; }

    public int LatencyWorkers { get; init; } = 64;

    public int LatencyDelayMilliseconds { get; init; } = 1;

    /// <summary>Many owners: concurrent RunAsync calls on one shared pool, each of <see cref="JobsPerOwner"/> trivial jobs.</summary>
    public required int Owners { get; init; }

    public int JobsPerOwner { get; init; } = 100;

    /// <summary>The settings of a child launch: its mode and the workloads it measures, as <see cref="ChildArguments"/> wrote them.</summary>
    public static CompareSettings ForChild(string mode, string workloads) =>
        (mode == Quick.Mode ? Quick : Full) with { Workloads = workloads.Split(',') };

    /// <summary>What a child launch needs to rebuild these settings (<see cref="ForChild"/>).</summary>
    public string[] ChildArguments => [Mode, string.Join(',', Workloads)];

    /// <summary>Reads <c>--compare [--quick] [--launches N] [--only W[,W...]]</c>; anything else is an error.</summary>
    public static CompareSettings Parse(string[] args)
    {
        CompareSettings settings = args.Contains(QuickFlag) ? Quick : Full;
        if (CommandLine.Value(args, LaunchesOption) is { } launches)
        {
            settings = settings with { Launches = CommandLine.PositiveInt(LaunchesOption, launches) };
        }

        if (CommandLine.Value(args, OnlyOption) is { } only)
        {
            string[] named = only.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            string[] unknownWorkloads = [.. named.Where(name => !AllWorkloads.Contains(name))];
            if (named.Length == 0 || unknownWorkloads.Length > 0)
            {
                throw new ArgumentException(
                    $"{OnlyOption} takes workloads separated by commas, of: {string.Join(", ", AllWorkloads)}; got '{only}'.", nameof(args));
            }

            settings = settings with { Workloads = [.. AllWorkloads.Where(named.Contains)] };
        }

        string[] unknown = [.. args.Where((arg, at) => arg is not (Flag or QuickFlag or LaunchesOption or OnlyOption) && (at == 0 || args[at - 1] is not (LaunchesOption or OnlyOption)))];
        return unknown.Length == 0
            ? settings
            : throw new ArgumentException($"Not understood with {Flag}: {string.Join(' ', unknown)}", nameof(args));
    }
}
