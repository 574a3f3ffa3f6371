namespace LeakDemo;

/// <summary>One unit of a request's fan-out: a simulated downstream call that takes <see cref="Duration"/> and then succeeds or fails.</summary>
/// <param name="Index">The sub-job's position in its request, 0-based.</param>
/// <param name="Duration">How long the simulated call takes.</param>
/// <param name="Fails">Whether the call fails once its time is up.</param>
public readonly record struct SubJob(int Index, TimeSpan Duration, bool Fails)
{
    /// <summary>
    /// The fan-out of one request: <see cref="LeakDemoOptions.SubJobsPerRequest"/> sub-jobs with durations drawn
    /// uniformly between <see cref="LeakDemoOptions.MinSubJobTime"/> and <see cref="LeakDemoOptions.MaxSubJobTime"/>,
    /// exactly one of them failing. The same seed gives the same plan, so both endpoints do the same work.
    /// </summary>
    /// <param name="seed">The request's seed.</param>
    /// <param name="options">The demo's settings.</param>
    /// <returns>The sub-jobs, in index order.</returns>
    public static SubJob[] Plan(int seed, LeakDemoOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
#pragma warning disable CA5394 // Simulated latencies, not security: a seeded, reproducible generator is the point.
        var random = new Random(seed);
        int failing = random.Next(options.SubJobsPerRequest);
        double spanMs = (options.MaxSubJobTime - options.MinSubJobTime).TotalMilliseconds;
        var jobs = new SubJob[options.SubJobsPerRequest];
        for (int i = 0; i < jobs.Length; i++)
        {
            TimeSpan duration = options.MinSubJobTime + TimeSpan.FromMilliseconds(random.NextDouble() * spanMs);
            jobs[i] = new SubJob(i, duration, i == failing);
        }
#pragma warning restore CA5394

        return jobs;
    }
}
