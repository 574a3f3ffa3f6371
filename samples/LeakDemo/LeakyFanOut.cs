using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;

namespace LeakDemo;

/// <summary>
/// <c>/leaky</c>: the incident's handler, ported to C# as naively as it was first written in Go.
/// </summary>
/// <remarks>
/// <para>The Go original, in outline:</para>
/// <code>
/// results := make(chan result, 1)
/// for _, job := range jobs {
///     go func(job subJob) { results &lt;- do(job) }(job)   // nobody ever stops this send
/// }
/// for range jobs {
///     if r := &lt;-results; r.err != nil {
///         return r.err                                    // early return: the other senders block forever
///     }
/// }
/// </code>
/// <para>
/// Here every sub-job is a <see cref="Task.Run(Func{Task})"/>, results go over a bounded channel of capacity 1, and the
/// handler returns on the first error. Nothing observes cancellation: not the sub-jobs, not the reads, and not the
/// sends, which call <see cref="ChannelWriter{T}.WriteAsync"/> without a token. Once the handler has returned, one more
/// result fits in the channel and every later sender waits forever.
/// </para>
/// <para>
/// One thing is not part of the bug: the handler hands its abandoned channel to <see cref="Abandon"/>, so that
/// <see cref="ReleaseBlocked"/> can close it when the demo ends and the process exits cleanly. That list also keeps the
/// blocked senders reachable. Without it, .NET could garbage-collect a task that waits on a channel nobody references
/// (Go never collects a blocked goroutine); in a real service a registration on a long-lived token, a cache or a
/// logging scope usually keeps them reachable in the same way.
/// </para>
/// </remarks>
public sealed class LeakyFanOut
{
    private readonly LeakDemoOptions _options;
    private readonly ConcurrentQueue<ChannelWriter<Outcome>> _abandoned = new();
    private volatile bool _released;

    /// <summary>Creates the endpoint.</summary>
    /// <param name="options">The demo's settings.</param>
    public LeakyFanOut(LeakDemoOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    /// <summary>Gets the sub-job bodies alive now, including senders blocked forever.</summary>
    public LiveTaskCounter LiveSubJobs { get; } = new();

    /// <summary>Gets the requests whose handler is executing.</summary>
    public LiveTaskCounter InFlightRequests { get; } = new();

    /// <summary>Handles one request: fans out to the sub-jobs of <paramref name="seed"/>'s plan and returns on the first error.</summary>
    /// <param name="seed">The request's plan seed.</param>
    /// <returns>502 with the failing sub-job's error, or 200 if every sub-job succeeded.</returns>
    public async Task<IResult> HandleAsync(int seed)
    {
        InFlightRequests.Increment();
        try
        {
            SubJob[] jobs = SubJob.Plan(seed, _options);
            Channel<Outcome> results = Channel.CreateBounded<Outcome>(1);
            foreach (SubJob job in jobs)
            {
                _ = Task.Run(() => SendAsync(job, results.Writer));
            }

            for (int received = 0; received < jobs.Length; received++)
            {
                Outcome outcome = await results.Reader.ReadAsync();
                if (outcome.Failed)
                {
                    Abandon(results.Writer);
                    return Results.Text($"sub-job {outcome.Index} failed", statusCode: StatusCodes.Status502BadGateway);
                }
            }

            return Results.Text($"{jobs.Length} sub-jobs succeeded");
        }
        finally
        {
            InFlightRequests.Decrement();
        }
    }

    /// <summary>
    /// Closes every abandoned channel, now and from now on, so that every blocked sender ends. The stand-in for the
    /// manual restart the incident needed. Idempotent.
    /// </summary>
    public void ReleaseBlocked()
    {
        _released = true;
        DrainAbandoned();
    }

    private async Task SendAsync(SubJob job, ChannelWriter<Outcome> results)
    {
        LiveSubJobs.Increment();
        try
        {
            await Task.Delay(job.Duration);
            await results.WriteAsync(new Outcome(job.Index, job.Fails));
        }
        catch (ChannelClosedException)
        {
            // Only ReleaseBlocked closes the channel: the demo is ending.
        }
        finally
        {
            LiveSubJobs.Decrement();
        }
    }

    private void Abandon(ChannelWriter<Outcome> results)
    {
        _abandoned.Enqueue(results);

        // Pairs with ReleaseBlocked: it sets the flag and then drains, we enqueue and then read the flag, so a channel
        // abandoned while the demo releases is closed by one side or the other.
        if (_released)
        {
            DrainAbandoned();
        }
    }

    private void DrainAbandoned()
    {
        while (_abandoned.TryDequeue(out ChannelWriter<Outcome>? writer))
        {
            writer.TryComplete();
        }
    }

    /// <summary>What a sub-job sends back: which one it was and whether it failed.</summary>
    private readonly record struct Outcome(int Index, bool Failed);
}
