using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using WorkerPool.Tests.Support;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace WorkerPool.Tests.LeakProof;

/// <summary>
/// The .NET shape of the incident. Goroutines blocked forever become, in .NET, cancellation registrations that pile up
/// on a long-lived token, run state that stays reachable after its run ended (<see cref="RunReachabilityTests"/>, which
/// are fast), and faulted tasks that nobody observes.
/// </summary>
[Trait("Category", "Slow")]
public sealed class IncidentShapeTests(ITestOutputHelper output) : PoolTest
{
    private const int ManyRuns = 200_000;
    private const int WarmUpRuns = 5_000;
    private const long OneMegabyte = 1024 * 1024;

    // ---------------------------------------------------------------------------------------------------------------
    // Cancellation registrations on a long-lived token
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task RunAsync_200000RunsOnOneLongLivedToken_ManagedHeapGrowsByLessThan1MB()
    {
        // Like a service's stopping token: never cancelled, and passed to every run. Each run links it with the pool's
        // own disposal token; a linked source left undisposed would stay registered on both for good.
        using var longLived = new CancellationTokenSource();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) => ValueTask.FromResult(job),
            new WorkerPoolOptions { MaxWorkers = 2, Name = "incident/registrations" });

        await RunManyAsync(pool, WarmUpRuns, longLived.Token);
        long baseline = HeapAfterFullGc();
        var clock = Stopwatch.StartNew();
        await RunManyAsync(pool, ManyRuns, longLived.Token);
        clock.Stop();
        long after = HeapAfterFullGc();

        long growth = after - baseline;
        output.WriteLine($"Pool: {ManyRuns} runs in {clock.Elapsed.TotalSeconds:0.0} s; heap after a full GC {baseline} -> {after} bytes, growth {growth} bytes ({growth / (double)ManyRuns:0.###} bytes per run).");
        growth.Should().BeLessThan(OneMegabyte, "each run must dispose the linked token source it registered on the long-lived token");
        pool.GetStatistics().Succeeded.Should().Be(WarmUpRuns + ManyRuns);
    }

    [Fact]
    public void CreateLinkedTokenSource_Undisposed200000TimesOnOneLongLivedToken_ManagedHeapGrowsByMoreThan1MB()
    {
        // The hand-written loop of the incident: a linked source per request, never disposed. This shows that the
        // measurement above detects the leak it guards against.
        using var longLived = new CancellationTokenSource();

        LinkWithoutDisposing(WarmUpRuns, longLived.Token);
        long baseline = HeapAfterFullGc();
        LinkWithoutDisposing(ManyRuns, longLived.Token);
        long after = HeapAfterFullGc();

        long growth = after - baseline;
        output.WriteLine($"Leaky loop: {ManyRuns} undisposed linked sources; heap after a full GC {baseline} -> {after} bytes, growth {growth} bytes ({growth / (double)ManyRuns:0.###} bytes per source).");
        growth.Should().BeGreaterThan(OneMegabyte, "every undisposed linked source stays registered on the long-lived token");
    }

    private static async Task RunManyAsync(BoundedWorkerPool<int, int> pool, int count, CancellationToken token)
    {
        int[] oneJob = [1];
        for (int i = 0; i < count; i++)
        {
            IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(oneJob, token);
            if (results.Count != 1 || !results[0].IsSuccess)
            {
                throw new XunitException($"Run {i} returned {results.Count} outcome(s) instead of one success.");
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LinkWithoutDisposing(int count, CancellationToken token)
    {
        for (int i = 0; i < count; i++)
        {
#pragma warning disable CA2000 // Deliberately not disposed: this is the leak being measured.
            _ = CancellationTokenSource.CreateLinkedTokenSource(token);
#pragma warning restore CA2000
        }
    }

    private static long HeapAfterFullGc()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Unobserved task exceptions
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Pool_ScenariosThatFaultInternalTasks_RaiseNoUnobservedTaskException()
    {
        // Finalise what earlier tests left behind first, so that only this test's tasks are judged.
        Reachability.ForceFullGc();
        var seen = new ConcurrentQueue<AggregateException>();
        void Record(object? sender, UnobservedTaskExceptionEventArgs e) => seen.Enqueue(e.Exception);
        TaskScheduler.UnobservedTaskException += Record;
        try
        {
            await RunScenariosThatFaultInternallyAsync();

            // Every round, so that tasks still held by a thread that is unwinding get finalised too.
            await Reachability.CollectUntilAsync(() => !seen.IsEmpty);

            seen.Should().BeEmpty("the pool must observe every task it lets fault");
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= Record;
        }
    }

    [Fact]
    public async Task UnobservedTaskException_AFaultLeftUnobservedOnPurpose_IsSeenByTheSameMeasurement()
    {
        Reachability.ForceFullGc();
        var seen = new ConcurrentQueue<AggregateException>();
        void Record(object? sender, UnobservedTaskExceptionEventArgs e) => seen.Enqueue(e.Exception);
        TaskScheduler.UnobservedTaskException += Record;
        try
        {
            await FaultWithoutObservingAsync();
            await Reachability.CollectUntilAsync(() => !seen.IsEmpty);

            seen.Should().Contain(e => e.InnerExceptions.Any(inner => inner is DeliberatelyUnobservedException), "this is what the test above would see if the pool let a fault go unobserved");
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= Record;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task FaultWithoutObservingAsync()
    {
        Task faulted = Task.Run(new Action(() => throw new DeliberatelyUnobservedException()));

        // Wait for the fault without observing it.
        await faulted.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task RunScenariosThatFaultInternallyAsync()
    {
        // The sources throw, in both kinds of run and from both kinds of source.
        await using (var pool = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { MaxWorkers = 2, Name = "incident/unobserved-source" }))
        {
            await pool.RunAsync(Sources.ThrowingAfter(3, new InvalidDataException("sync source"))).ShouldThrowAsync<InvalidDataException>();
            await pool.RunAsync(Sources.ThrowingAfterAsync(3, new InvalidDataException("async source"))).ShouldThrowAsync<InvalidDataException>();
            await pool.StreamAsync(Sources.ThrowingAfter(3, new InvalidDataException("stream source"))).CollectAsync().ShouldThrowAsync<InvalidDataException>();
            await pool.StreamAsync(Sources.ThrowingAfterAsync(3, new InvalidDataException("async stream source"))).CollectAsync().ShouldThrowAsync<InvalidDataException>();
        }

        // StopOnFirstError, with jobs failing synchronously and asynchronously, and a running job whose cancellation
        // callback throws when the failure cancels the run.
        await using (var pool = new BoundedWorkerPool<int, int>(
            async (job, token) =>
            {
                if (job == 3)
                {
                    await Task.Yield();
                    throw new InvalidOperationException("job 3");
                }

                using CancellationTokenRegistration throwing = token.Register(static () => throw new InvalidOperationException("a throwing cancellation callback"));
                await Task.Delay(Timeout.Infinite, token);
                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 4, ErrorMode = ErrorMode.StopOnFirstError, Name = "incident/unobserved-stop" }))
        {
            await pool.RunAsync(Enumerable.Range(0, 10)).ShouldThrowAsync<InvalidOperationException>();
            await pool.StreamAsync(Enumerable.Range(0, 10)).CollectAsync().ShouldThrowAsync<InvalidOperationException>();
        }

        await using (var pool = new BoundedWorkerPool<int, int>(
            (job, _) => job == 2 ? throw new InvalidOperationException("job 2") : ValueTask.FromResult(job),
            new WorkerPoolOptions { ErrorMode = ErrorMode.StopOnFirstError, Name = "incident/unobserved-sync-throw" }))
        {
            await pool.RunAsync(Enumerable.Range(0, 10)).ShouldThrowAsync<InvalidOperationException>();
        }

        // ShutdownTimeout exceeded, by a run and by disposal, then the stuck jobs released.
        TimeSpan shutdownTimeout = TimeSpan.FromSeconds(5);
        var clock = new TestClock();
        var probe = new WorkProbe<int>();
        var stubborn = new BoundedWorkerPool<int, int>(
            probe.GatedIgnoringCancellation(job => job),
            new WorkerPoolOptions { MaxWorkers = 2, ShutdownTimeout = shutdownTimeout, Name = "incident/unobserved-shutdown", TimeProvider = clock });
        try
        {
            using (var cts = new CancellationTokenSource())
            {
                Task<IReadOnlyList<JobResult<int, int>>> run = stubborn.RunAsync([1], cts.Token);
                await probe.Started(1).Within();
                await cts.CancelAsync();
                await clock.TimerSet(shutdownTimeout).Within();
                clock.Advance(shutdownTimeout);
                await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
            }

            Task<IReadOnlyList<JobResult<int, int>>> disposedRun = stubborn.RunAsync([2]);
            await probe.Started(2).Within();
            Task disposed = stubborn.DisposeAsync().AsTask();
            await clock.TimerSet(shutdownTimeout, count: 3).Within();
            clock.Advance(shutdownTimeout);
            await disposed.Within();
            await disposedRun.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();
        }
        finally
        {
            probe.ReleaseAll();
        }

        await stubborn.WhenNoWorkersAsync().Within();
        await stubborn.DisposeAsync().Within();

        // Asynchronous sources that ignore their token, abandoned by a cancelled run, then unstuck: one ends its
        // sequence, the other faults its pending MoveNextAsync, which only the pool ever sees.
        await using (var pool = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { Name = "incident/unobserved-abandoned" }))
        {
            foreach (bool fault in new[] { false, true })
            {
                var stuck = new StuckAsyncSource(2);
                using var cts = new CancellationTokenSource();
                Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(stuck, cts.Token);
                await stuck.Stuck.Within();
                await cts.CancelAsync();
                await run.ShouldThrowAsync<WorkerPoolCanceledException<int, int>>();
                if (fault)
                {
                    stuck.UnstickWithError(new IOException("the abandoned source failed"));
                }
                else
                {
                    stuck.Unstick();
                }

                await stuck.WhenDisposed.Within();
            }
        }
    }

    private static ValueTask<int> Identity(int job, CancellationToken cancellationToken) => ValueTask.FromResult(job);
}
