namespace LeakDemo;

/// <summary>
/// Settings for one run of the demo. The defaults reproduce the incident on a 2-core machine in well under a minute.
/// </summary>
/// <remarks>Immutable; use a <c>with</c> expression to change a setting.</remarks>
public sealed record LeakDemoOptions
{
    /// <summary>Gets the number of requests sent to each endpoint.</summary>
    /// <value>At least 1. The default is 3,000.</value>
    public int Requests { get; init; } = 3_000;

    /// <summary>Gets the number of requests in flight at once: the number of client loops.</summary>
    /// <value>Between 1 and <see cref="Requests"/>. The default is 16.</value>
    public int Concurrency { get; init; } = 16;

    /// <summary>Gets how long a client waits for a response before it gives up and aborts the request.</summary>
    /// <value>Positive. The default is 75 ms: shorter than the slowest responses, so some requests are aborted.</value>
    public TimeSpan ClientTimeout { get; init; } = TimeSpan.FromMilliseconds(75);

    /// <summary>Gets the number of sub-jobs each request fans out to. Exactly one of them fails.</summary>
    /// <value>At least 2. The default is 20.</value>
    public int SubJobsPerRequest { get; init; } = 20;

    /// <summary>Gets the shortest time a sub-job takes.</summary>
    /// <value>Zero or positive. The default is 5 ms.</value>
    public TimeSpan MinSubJobTime { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Gets the longest time a sub-job takes.</summary>
    /// <value>At least <see cref="MinSubJobTime"/>. The default is 50 ms.</value>
    public TimeSpan MaxSubJobTime { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Gets the <c>MaxWorkers</c> of the one pool that serves every <c>/pooled</c> request.</summary>
    /// <value>At least 1. The default is 128.</value>
    public int MaxWorkers { get; init; } = 128;

    /// <summary>Gets how often the process is sampled while an endpoint is under load and afterwards.</summary>
    /// <value>Between 1 ms and 100 ms. The default is 50 ms.</value>
    public TimeSpan SampleInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Gets how long each endpoint is watched after its load stops. An endpoint that has not recovered by then is
    /// reported as never recovering, with the number of sub-job tasks still alive.
    /// </summary>
    /// <value>Between 100 ms and 1 minute. The default is 3 s.</value>
    public TimeSpan GracePeriod { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Gets the seed of the request plans. Request <c>i</c> gets seed <c>Seed + i</c> on both endpoints.</summary>
    /// <value>Any value. The default is 2024.</value>
    public int Seed { get; init; } = 2024;

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it and its value.</exception>
    public void Validate()
    {
        Check(Requests >= 1, Requests, "must be at least 1");
        Check(Concurrency >= 1 && Concurrency <= Requests, Concurrency, $"must be between 1 and {nameof(Requests)} ({Requests})");
        Check(ClientTimeout > TimeSpan.Zero && ClientTimeout <= TimeSpan.FromMinutes(1), ClientTimeout, "must be positive and at most 1 minute");
        Check(SubJobsPerRequest >= 2, SubJobsPerRequest, "must be at least 2");
        Check(MinSubJobTime >= TimeSpan.Zero, MinSubJobTime, "must not be negative");
        Check(MaxSubJobTime >= MinSubJobTime && MaxSubJobTime <= TimeSpan.FromSeconds(10), MaxSubJobTime, $"must be between {nameof(MinSubJobTime)} ({MinSubJobTime}) and 10 s");
        Check(MaxWorkers >= 1, MaxWorkers, "must be at least 1");
        Check(SampleInterval >= TimeSpan.FromMilliseconds(1) && SampleInterval <= TimeSpan.FromMilliseconds(100), SampleInterval, "must be between 1 ms and 100 ms");
        Check(GracePeriod >= TimeSpan.FromMilliseconds(100) && GracePeriod <= TimeSpan.FromMinutes(1), GracePeriod, "must be between 100 ms and 1 minute");
    }

    private static void Check<T>(bool valid, T value, string rule, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(value))] string name = "")
    {
        if (!valid)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{nameof(LeakDemoOptions)}.{name} {rule}, but was {value}.");
        }
    }
}
