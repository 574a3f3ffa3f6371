using System.Diagnostics;

namespace LeakDemo;

/// <summary>
/// A closed-loop load: <c>concurrency</c> client loops share a fixed number of requests, each loop sending its next
/// request as soon as the previous one was answered or aborted.
/// </summary>
internal static class LoadGenerator
{
    /// <summary>Sends <paramref name="requests"/> requests to <paramref name="endpoint"/> and reports what came back.</summary>
    /// <remarks>
    /// Request <c>i</c> carries seed <c>seedBase + i</c>. A request not answered within <paramref name="timeout"/> is
    /// aborted by its client: the connection is closed, which is what the server sees as the request being aborted.
    /// </remarks>
    public static async Task<LoadReport> RunAsync(
        HttpClient client,
        Uri endpoint,
        int requests,
        int concurrency,
        int seedBase,
        TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        var latencies = new long[requests];
        int next = -1;
        int served = 0;
        int succeeded = 0;
        int aborted = 0;
        int transportErrors = 0;
        long started = Stopwatch.GetTimestamp();

        async Task ClientLoopAsync()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests)
            {
                var uri = new Uri(endpoint, $"?seed={seedBase + i}");
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                deadline.CancelAfter(timeout);
                long sent = Stopwatch.GetTimestamp();
                latencies[i] = -1;
                try
                {
                    using HttpResponseMessage response = await client.GetAsync(uri, HttpCompletionOption.ResponseContentRead, deadline.Token);
                    latencies[i] = Stopwatch.GetTimestamp() - sent;
                    Interlocked.Increment(ref served);
                    if (response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref succeeded);
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    Interlocked.Increment(ref aborted);
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref transportErrors);
                }
            }
        }

        var loops = new Task[concurrency];
        for (int c = 0; c < loops.Length; c++)
        {
            loops[c] = Task.Run(ClientLoopAsync, cancellationToken);
        }

        await Task.WhenAll(loops);
        TimeSpan duration = Stopwatch.GetElapsedTime(started);

        long[] answered = Array.FindAll(latencies, l => l >= 0);
        Array.Sort(answered);
        return new LoadReport(
            requests,
            served,
            succeeded,
            aborted,
            transportErrors,
            duration,
            Percentile(answered, 0.50),
            Percentile(answered, 0.99));
    }

    private static TimeSpan Percentile(long[] sortedTicks, double quantile)
    {
        if (sortedTicks.Length == 0)
        {
            return TimeSpan.Zero;
        }

        int index = (int)Math.Ceiling(quantile * sortedTicks.Length) - 1;
        long ticks = sortedTicks[Math.Clamp(index, 0, sortedTicks.Length - 1)];
        return TimeSpan.FromSeconds((double)ticks / Stopwatch.Frequency);
    }
}
