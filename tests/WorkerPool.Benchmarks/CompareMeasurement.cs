using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace WorkerPool.Benchmarks;

/// <summary>
/// <c>--compare</c>: the pool against its peers on the same workloads, side by side in the same process, repeated over
/// fresh child processes (see <see cref="CompareChild"/>); the report is built by <see cref="CompareReport"/>.
/// Not BenchmarkDotNet: on a shared two-core machine a single run swings by a factor of three, so every ratio is taken
/// between contenders of the same launch, and the median over launches is what is reported.
/// </summary>
internal static class CompareMeasurement
{
    public static IReadOnlyList<string> Measure(CompareSettings settings)
    {
        var launches = new List<CompareLaunch>();
        var loads = new List<double>();
        var clock = Stopwatch.StartNew();
        for (int launch = 0; launch < settings.Launches; launch++)
        {
            loads.Add(MachineLoad.OneMinute());
            Console.WriteLine($"// Compare: launch {launch + 1} of {settings.Launches} ({MachineLoad.Describe()})");
            string[] arguments = [CompareChild.ChildFlag, .. settings.ChildArguments, launch.ToString(CultureInfo.InvariantCulture)];
            launches.Add(CompareLaunch.Parse(ChildLaunch.Run(arguments, CompareChild.ResultPrefix, TimeSpan.FromMinutes(20))));
        }

        IReadOnlyList<string> report = CompareReport.Build(settings, launches, Spread.Of(loads), clock.Elapsed);
        foreach (string line in report)
        {
            Console.WriteLine(line);
        }

        return report;
    }

    /// <summary>
    /// The name of the first assembly under test that was built without optimisation (a Debug build), or null. The
    /// children run the same build as this process, so checking here covers them.
    /// </summary>
    public static string? NotOptimized() => new[] { typeof(BoundedWorkerPool<,>).Assembly, typeof(CompareMeasurement).Assembly }
        .FirstOrDefault(assembly => assembly.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled == true)
        ?.GetName().Name;
}
