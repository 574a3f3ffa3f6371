using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WorkerPool;
using static System.FormattableString;

namespace LeakDemo;

// ============================================================================================================
// Who starts each task, who ends it
// ============================================================================================================
//   Kestrel        Started by RunCoreAsync (app.StartAsync) on 127.0.0.1, port 0; stopped and disposed in its
//                  finally block, on every exit path. Its request handlers run on Kestrel's own tasks.
//   /leaky tasks   Started by LeakyFanOut.HandleAsync with Task.Run; nothing awaits them. The ones blocked on a
//                  send end only when LeakyFanOut.ReleaseBlocked closes their channel: after /leaky has been
//                  measured, and again in the finally block, which then waits for the last of them.
//   /pooled work   Owned by the one BoundedWorkerPool: a request's RunAsync returns only once none of its
//                  sub-jobs executes. The pool is disposed (awaiting its workers) when RunCoreAsync returns.
//   Client loops   Started and awaited by LoadGenerator.RunAsync; ended by the request count or the caller's token.
//   Sampler        Started per endpoint by MeasureAsync and stopped by it, or by its `await using` on failure.
// The caller's token stops the load, the waits and the grace periods; the cleanup never observes it.
// ============================================================================================================

/// <summary>
/// Replays the incident: starts a minimal API with a leaky and a pooled fan-out endpoint, drives load against each in
/// turn, samples the process, measures recovery, and cleans up everything it started.
/// </summary>
public static class LeakDemoRunner
{
    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Runs the demo.</summary>
    /// <param name="options">The settings.</param>
    /// <param name="progress">Where to write a line as each phase starts and ends; <see langword="null"/> for nowhere.</param>
    /// <param name="cancellationToken">Stops the demo early; the task is then cancelled after cleanup.</param>
    /// <returns>The measurements. When the task completes, Kestrel is stopped and no sub-job task is left.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    public static Task<LeakDemoResult> RunAsync(LeakDemoOptions options, TextWriter? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<LeakDemoResult>(cancellationToken);
        }

        return RunCoreAsync(options, progress ?? TextWriter.Null, cancellationToken);
    }

    private static async Task<LeakDemoResult> RunCoreAsync(LeakDemoOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        var leaky = new LeakyFanOut(options);
        await using var pooled = new PooledFanOut(options);
        WebApplication app = BuildServer(leaky, pooled);
        try
        {
            await app.StartAsync(cancellationToken);
            Uri address = BoundAddress(app);
            progress.WriteLine(Invariant($"Kestrel listening on {address}"));

            using var client = new HttpClient(new SocketsHttpHandler
            {
                MaxConnectionsPerServer = options.Concurrency,
                UseProxy = false,
                UseCookies = false,
            })
            {
                BaseAddress = address,
                Timeout = Timeout.InfiniteTimeSpan,
            };

            // Warm up the HTTP stack, the connections and the pool on /pooled only: /leaky would leak already.
            int warmUp = Math.Min(options.Requests, 2 * options.Concurrency);
            await LoadGenerator.RunAsync(client, new Uri(address, "/pooled"), warmUp, options.Concurrency, options.Seed - warmUp, TimeSpan.FromSeconds(10), cancellationToken);
            WorkerPoolStatistics afterWarmUp = pooled.GetStatistics();
            int abortedInWarmUp = pooled.AbortedRequests;

            EndpointReport leakyReport = await MeasureAsync(
                "/leaky", client, address, leaky.LiveSubJobs, leaky.InFlightRequests, activeWorkers: () => pooled.GetStatistics().ActiveWorkers, options, progress, cancellationToken);

            ReleaseReport release = await ReleaseLeakyAsync(leaky, progress, cancellationToken);

            EndpointReport pooledReport = await MeasureAsync(
                "/pooled", client, address, pooled.LiveSubJobs, pooled.InFlightRequests, activeWorkers: () => pooled.GetStatistics().ActiveWorkers, options, progress, cancellationToken);

            // The warm-up requests are left out of the sub-job and abort counts: only the measured load is reported.
            WorkerPoolStatistics end = pooled.GetStatistics();
            WorkerPoolStatistics measured = end with
            {
                Succeeded = end.Succeeded - afterWarmUp.Succeeded,
                Failed = end.Failed - afterWarmUp.Failed,
                TimedOut = end.TimedOut - afterWarmUp.TimedOut,
                Canceled = end.Canceled - afterWarmUp.Canceled,
            };
            return new LeakDemoResult(
                options, address, leakyReport, pooledReport, release, measured, pooled.AbortedRequests - abortedInWarmUp, Stopwatch.GetElapsedTime(started));
        }
        finally
        {
            // Every exit path: nothing of /leaky stays blocked and Kestrel lets go of its port.
            leaky.ReleaseBlocked();
            try
            {
                using var cleanup = new CancellationTokenSource(CleanupTimeout);
                await app.StopAsync(cleanup.Token);
                await leaky.InFlightRequests.WaitForZeroAsync(cleanup.Token);
                await leaky.LiveSubJobs.WaitForZeroAsync(cleanup.Token);
            }
            finally
            {
                await app.DisposeAsync();
            }
        }
    }

    private static WebApplication BuildServer(LeakyFanOut leaky, PooledFanOut pooled)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        WebApplication app = builder.Build();
        app.MapGet("/leaky", (int seed) => leaky.HandleAsync(seed));
        app.MapGet("/pooled", (int seed, CancellationToken requestAborted) => pooled.HandleAsync(seed, requestAborted));
        return app;
    }

    private static Uri BoundAddress(WebApplication app)
    {
        IServerAddressesFeature? addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>();
        string? address = addresses?.Addresses.FirstOrDefault();
        if (address is null)
        {
            throw new InvalidOperationException("Kestrel started but reported no bound address.");
        }

        return new Uri(address);
    }

    /// <summary>Load one endpoint, sample the process meanwhile and for a grace period after, and measure its recovery.</summary>
    private static async Task<EndpointReport> MeasureAsync(
        string endpoint,
        HttpClient client,
        Uri address,
        LiveTaskCounter liveSubJobs,
        LiveTaskCounter inFlightRequests,
        Func<int> activeWorkers,
        LeakDemoOptions options,
        TextWriter progress,
        CancellationToken cancellationToken)
    {
        progress.WriteLine(Invariant($"{endpoint}: {options.Requests:N0} requests, {options.Concurrency} at a time, client timeout {options.ClientTimeout.TotalMilliseconds:0} ms ..."));
        long baselineHeap = GC.GetTotalMemory(forceFullCollection: true);
        liveSubJobs.ResetPeak();
        var clock = Stopwatch.StartNew();
        await using ProcessSampler sampler = ProcessSampler.Start(clock, () => liveSubJobs.Count, activeWorkers, options.SampleInterval);

        LoadReport load = await LoadGenerator.RunAsync(
            client, new Uri(address, endpoint), options.Requests, options.Concurrency, options.Seed, options.ClientTimeout, cancellationToken);
        long loadEnded = Stopwatch.GetTimestamp();
        TimeSpan loadEnd = clock.Elapsed;
        int liveAtLoadEnd = liveSubJobs.Count;
        progress.WriteLine(Invariant($"{endpoint}: load done in {load.Duration.TotalSeconds:0.0} s; {liveAtLoadEnd:N0} sub-job tasks alive; watching for {options.GracePeriod.TotalSeconds:0.#} s ..."));

        TimeSpan? recovery;
        using (var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            grace.CancelAfter(options.GracePeriod);
            recovery = await MeasureRecoveryAsync(liveSubJobs, inFlightRequests, baselineHeap, loadEnded, grace.Token);
            cancellationToken.ThrowIfCancellationRequested();

            // Keep sampling until the grace period is over, so both endpoints are watched for the same time.
            await Task.Delay(Timeout.InfiniteTimeSpan, grace.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
        }

        IReadOnlyList<ProcessSample> samples = await sampler.StopAsync();
        int liveAtEnd = liveSubJobs.Count;
        long retainedHeap = GC.GetTotalMemory(forceFullCollection: true);
        progress.WriteLine(recovery is { } r
            ? Invariant($"{endpoint}: recovered {r.TotalMilliseconds:0} ms after the load stopped")
            : Invariant($"{endpoint}: not recovered after {options.GracePeriod.TotalSeconds:0.#} s: {liveAtEnd:N0} sub-job tasks still blocked"));

        return new EndpointReport(
            endpoint,
            load,
            liveSubJobs.Peak,
            samples.Max(s => s.ActiveWorkers),
            baselineHeap,
            samples.Max(s => s.HeapBytes),
            samples.Max(s => s.WorkingSetBytes),
            retainedHeap,
            liveAtLoadEnd,
            liveAtEnd,
            recovery,
            loadEnd,
            samples);
    }

    /// <summary>
    /// Waits, without polling, until no request is in flight and no sub-job is alive, then until a full collection
    /// brings the heap back within tolerance of its baseline. Returns the time from the end of the load to that moment,
    /// or <see langword="null"/> if <paramref name="grace"/> ran out first.
    /// </summary>
    private static async Task<TimeSpan?> MeasureRecoveryAsync(
        LiveTaskCounter liveSubJobs,
        LiveTaskCounter inFlightRequests,
        long baselineHeap,
        long loadEnded,
        CancellationToken grace)
    {
        try
        {
            // Handlers first: once none is in flight no new sub-job can start, so a zero seen after that is final.
            await inFlightRequests.WaitForZeroAsync(grace);
            await liveSubJobs.WaitForZeroAsync(grace);
            long limit = baselineHeap + EndpointReport.HeapTolerance(baselineHeap);
            while (GC.GetTotalMemory(forceFullCollection: true) > limit)
            {
                // Something still holds memory the load allocated: give it a moment, then collect again.
                await Task.Delay(TimeSpan.FromMilliseconds(20), grace);
            }

            return Stopwatch.GetElapsedTime(loadEnded);
        }
        catch (OperationCanceledException) when (grace.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>The stand-in for the incident's manual restart: close the abandoned channels and wait for every blocked task to end.</summary>
    private static async Task<ReleaseReport> ReleaseLeakyAsync(LeakyFanOut leaky, TextWriter progress, CancellationToken cancellationToken)
    {
        int blocked = leaky.LiveSubJobs.Count;
        long started = Stopwatch.GetTimestamp();
        leaky.ReleaseBlocked();
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(CleanupTimeout);
            await leaky.InFlightRequests.WaitForZeroAsync(timeout.Token);
            await leaky.LiveSubJobs.WaitForZeroAsync(timeout.Token);
        }

        TimeSpan elapsed = Stopwatch.GetElapsedTime(started);
        progress.WriteLine(Invariant($"/leaky: released {blocked:N0} blocked tasks by closing their channels ({elapsed.TotalMilliseconds:0} ms)"));
        return new ReleaseReport(blocked, elapsed, leaky.LiveSubJobs.Count);
    }
}
