namespace WorkerPool.Benchmarks;

/// <summary>What one <c>--compare</c> child process reported: per contender the median of its rounds, some rounds, and facts.</summary>
internal sealed class CompareLaunch
{
    private readonly Dictionary<(string Workload, string Contender), Result> _results = [];
    private readonly Dictionary<string, double> _info = [];
    private readonly List<Round> _rounds = [];

    /// <summary>Every round printed one by one, in the order they ran.</summary>
    public IReadOnlyList<Round> Rounds => _rounds;

    public static CompareLaunch Parse(IReadOnlyList<string[]> lines)
    {
        var launch = new CompareLaunch();
        foreach (string[] line in lines)
        {
            switch (line[0])
            {
                case CompareChild.ResultLine:
                    launch._results[(line[1], line[2])] = new Result(
                        ChildLaunch.Parse(line[3]), ChildLaunch.Parse(line[4]), ChildLaunch.Parse(line[5]), ChildLaunch.Parse(line[6]), ChildLaunch.Parse(line[7]),
                        ChildLaunch.Parse(line[8]));
                    break;
                case CompareChild.RoundLine:
                    launch._rounds.Add(new Round(line[1], line[2], ChildLaunch.Parse(line[3]), ChildLaunch.Parse(line[4])));
                    break;
                case CompareChild.InfoLine:
                    launch._info[line[1]] = ChildLaunch.Parse(line[2]);
                    break;
                default:
                    throw new InvalidOperationException($"Unexpected line from the child: {string.Join('\t', line)}");
            }
        }

        return launch;
    }

    public Result Get(string workload, string contender) =>
        _results.TryGetValue((workload, contender), out Result result)
            ? result
            : throw new InvalidOperationException($"The child reported nothing for {contender} ({workload}).");

    public double Info(string key) =>
        _info.TryGetValue(key, out double value) ? value : throw new InvalidOperationException($"The child did not report {key}.");

    /// <summary>The median over a contender's rounds of one launch; the last three are NaN where they do not apply.</summary>
    /// <param name="Units">Jobs, or calls, that one run made.</param>
    /// <param name="Nanoseconds">Time per unit.</param>
    /// <param name="Bytes">Bytes allocated per unit.</param>
    /// <param name="Exceptions">First-chance exceptions per unit.</param>
    /// <param name="StillRunning">The most work calls still running when the call returned.</param>
    /// <param name="PageFaults">Minor page faults of the process per unit.</param>
    public readonly record struct Result(double Units, double Nanoseconds, double Bytes, double Exceptions, double StillRunning, double PageFaults);

    /// <summary>One round of one contender: time and bytes per unit.</summary>
    public readonly record struct Round(string Workload, string Contender, double Nanoseconds, double Bytes);
}
