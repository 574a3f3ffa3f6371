using System.Globalization;
using Microsoft.Coyote;
using Microsoft.Coyote.Rewriting;
using Microsoft.Coyote.SystematicTesting;
using Xunit.Abstractions;

// One engine at a time: each explores its own schedules, and two would only compete for the cores (the fuzzed tests run
// their tasks in parallel).
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace WorkerPool.SystematicTests.Support;

/// <summary>
/// Runs a test body under Coyote's testing engine: each iteration runs the body once, with Coyote choosing the order in
/// which its tasks take every lock, volatile and interlocked access, and await (in this assembly and in the rewritten
/// WorkerPool.dll). A failed <see cref="Microsoft.Coyote.Specifications.Specification.Assert(bool, string)"/>, an
/// unhandled exception (a failed Debug.Assert included) or a deadlock is a bug, and fails the test with Coyote's report.
/// </summary>
/// <remarks>
/// The schedules come from a fixed seed, so a run explores the same schedules every time. Environment variables change
/// that: <c>WORKERPOOL_COYOTE_ITERATIONS</c> sets the iterations per test (the long mode, for example 100000), and
/// <c>WORKERPOOL_COYOTE_SEED</c> the seed.
/// </remarks>
internal static class Systematic
{
    /// <summary>Iterations per test when WORKERPOOL_COYOTE_ITERATIONS is not set.</summary>
    internal const uint DefaultIterations = 1000;

    /// <summary>The seed when WORKERPOOL_COYOTE_SEED is not set.</summary>
    internal const uint DefaultSeed = 20240601;

    /// <summary>
    /// How long an iteration may make no step before Coyote reports a hang: 5 s rather than its 1 s, so that a loaded
    /// machine (the other test assemblies run alongside) is not taken for a deadlock. A deadlock with no task left to run
    /// is reported at once either way.
    /// </summary>
    private const uint DeadlockTimeoutMs = 5000;

    internal static uint Iterations => ReadUInt("WORKERPOOL_COYOTE_ITERATIONS") ?? DefaultIterations;

    internal static uint Seed => ReadUInt("WORKERPOOL_COYOTE_SEED") ?? DefaultSeed;

    /// <summary>Explores <paramref name="test"/> and fails if Coyote found a bug.</summary>
    /// <param name="test">The body of one iteration.</param>
    /// <param name="output">Where Coyote's report goes.</param>
    /// <param name="fuzzing">
    /// Whether to fuzz (run the tasks in parallel, with delays Coyote chooses at the same points) instead of running
    /// one task at a time in an order Coyote chooses. For bodies that block in a way Coyote cannot see.
    /// </param>
    internal static void Explore(Func<Task> test, ITestOutputHelper output, bool fuzzing = false)
    {
        TestReport report = Run(test, output, fuzzing);
        report.NumOfFoundBugs.Should().Be(0, "Coyote found a schedule that breaks the test (seed {0}):{1}{2}",
            Seed, Environment.NewLine, string.Join(Environment.NewLine, report.BugReports));
    }

    /// <summary>
    /// Explores <paramref name="test"/> and returns Coyote's report, bugs included. Coyote stops at the first bug, or after
    /// <paramref name="iterations"/> (by default <see cref="Iterations"/>).
    /// </summary>
    internal static TestReport Run(Func<Task> test, ITestOutputHelper output, bool fuzzing = false, uint? iterations = null)
    {
        RewritingEngine.IsAssemblyRewritten(typeof(Systematic).Assembly).Should().BeTrue("the build rewrites the test assembly (coyote rewrite)");
        RewritingEngine.IsAssemblyRewritten(typeof(JobQueue<,>).Assembly).Should().BeTrue("the build rewrites WorkerPool.dll (coyote rewrite)");

        Configuration configuration = Configuration.Create()
            .WithTestingIterations(iterations ?? Iterations)
            .WithRandomGeneratorSeed(Seed)
            .WithSystematicFuzzingEnabled(fuzzing)
            .WithDeadlockTimeout(DeadlockTimeoutMs)
            .WithTelemetryEnabled(false);
        using TestingEngine engine = TestingEngine.Create(configuration, test);
        engine.Run();

        output.WriteLine($"at most {iterations ?? Iterations} iterations, seed {Seed}{(fuzzing ? ", fuzzing" : string.Empty)}");
        output.WriteLine(engine.GetReport());
        foreach (string invocation in engine.TestReport.UncontrolledInvocations)
        {
            output.WriteLine($"uncontrolled: {invocation}");
        }

        return engine.TestReport;
    }

    private static uint? ReadUInt(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } text
            ? uint.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture)
            : null;
}
