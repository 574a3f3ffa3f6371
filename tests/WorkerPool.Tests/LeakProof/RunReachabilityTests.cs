using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.LeakProof;

/// <summary>
/// Reachability: once a run has ended, nothing of it stays reachable from the pool, nor from a long-lived token its
/// caller passed: not its jobs, its outcomes, its state, nor its token source.
/// </summary>
public sealed class RunReachabilityTests : PoolTest
{
    [Fact]
    public async Task RunAsync_AfterTheRunEnded_ItsJobsResultsAndRunStateAreCollectableWhileThePoolLives()
    {
        using var longLived = new CancellationTokenSource();
        var markers = new ConcurrentQueue<WeakReference>();
        await using var pool = NewReachabilityPool(markers, waitFrom: int.MaxValue, started: null, "reachable-run");

        List<Tracked> tracked = await RunAndDropAsync(pool, longLived.Token);
        await Reachability.CollectUntilAsync(() => !StillAlive(tracked, markers).Any());

        StillAlive(tracked, markers).Should().BeEmpty("the run has ended and the caller dropped everything; only the pool is still alive");
        pool.GetStatistics().Succeeded.Should().Be(20);
    }

    [Fact]
    public async Task StreamAsync_AfterTheStreamWasConsumed_ItsJobsResultsAndRunStateAreCollectableWhileThePoolLives()
    {
        using var longLived = new CancellationTokenSource();
        var markers = new ConcurrentQueue<WeakReference>();
        await using var pool = NewReachabilityPool(markers, waitFrom: int.MaxValue, started: null, "reachable-stream");

        List<Tracked> tracked = await StreamAndDropAsync(pool, longLived.Token);
        await Reachability.CollectUntilAsync(() => !StillAlive(tracked, markers).Any());

        StillAlive(tracked, markers).Should().BeEmpty("the stream has been consumed and the caller dropped everything; only the pool is still alive");
        pool.GetStatistics().Succeeded.Should().Be(20);
    }

    [Fact]
    public async Task RunAsync_AfterACancelledRun_ItsJobsOutcomesAndRunStateAreCollectableWhileThePoolLives()
    {
        using var longLived = new CancellationTokenSource();
        var markers = new ConcurrentQueue<WeakReference>();
        var started = new StartSignal(target: 4);
        await using var pool = NewReachabilityPool(markers, waitFrom: 2, started, "reachable-cancelled");

        List<Tracked> tracked = await CancelAndDropAsync(pool, started, longLived.Token);
        await Reachability.CollectUntilAsync(() => !StillAlive(tracked, markers).Any());

        StillAlive(tracked, markers).Should().BeEmpty("the cancelled run has ended and the caller dropped everything; only the pool is still alive");
        pool.GetStatistics().Canceled.Should().BeGreaterThan(0);
    }

    /// <summary>
    /// A pool whose work leaves a marker registered on the token it was given and never unregisters it. The marker
    /// stays reachable exactly as long as the run's token source stays reachable and undisposed: through the run, or
    /// through a registration of that source on the caller's long-lived token.
    /// </summary>
    private static BoundedWorkerPool<Payload, Output> NewReachabilityPool(ConcurrentQueue<WeakReference> markers, int waitFrom, StartSignal? started, string name) =>
        new(
            async (job, token) =>
            {
                var marker = new RunMarker();
                _ = token.UnsafeRegister(static _ => { }, marker);
                markers.Enqueue(new WeakReference(marker));
                started?.Hit();
                if (job.Id >= waitFrom)
                {
                    await Task.Delay(Timeout.Infinite, token);
                }

                await Task.Yield();
                return new Output(job.Id);
            },
            new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 4, Name = name });

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<List<Tracked>> RunAndDropAsync(BoundedWorkerPool<Payload, Output> pool, CancellationToken token)
    {
        Payload[] jobs = Payload.Many(20);
        List<Tracked> tracked = Tracked.Jobs(jobs);
        Task<IReadOnlyList<JobResult<Payload, Output>>> run = pool.RunAsync(jobs.Select(job => job), token);
        tracked.Add(new Tracked("the run's task", run));

        IReadOnlyList<JobResult<Payload, Output>> results = await run;
        tracked.Add(new Tracked("the result list", results));
        tracked.Add(new Tracked("a result value", results[7].Value!));
        return tracked;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<List<Tracked>> StreamAndDropAsync(BoundedWorkerPool<Payload, Output> pool, CancellationToken token)
    {
        Payload[] jobs = Payload.Many(20);
        List<Tracked> tracked = Tracked.Jobs(jobs);
        IAsyncEnumerable<JobResult<Payload, Output>> stream = pool.StreamAsync(jobs.Select(job => job), token);
        IAsyncEnumerator<JobResult<Payload, Output>> enumerator = stream.GetAsyncEnumerator(CancellationToken.None);
        tracked.Add(new Tracked("the stream's enumerator", enumerator));
        try
        {
            while (await enumerator.MoveNextAsync())
            {
                tracked.Add(new Tracked($"the value of job {enumerator.Current.Index}", enumerator.Current.Value!));
            }
        }
        finally
        {
            await enumerator.DisposeAsync();
        }

        return tracked;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<List<Tracked>> CancelAndDropAsync(BoundedWorkerPool<Payload, Output> pool, StartSignal started, CancellationToken longLived)
    {
        Payload[] jobs = Payload.Many(20);
        List<Tracked> tracked = Tracked.Jobs(jobs);
        using var caller = CancellationTokenSource.CreateLinkedTokenSource(longLived);

        // Jobs 0 and 1 complete, jobs 2 and 3 wait for their token when the caller cancels, the rest never start.
        Task<IReadOnlyList<JobResult<Payload, Output>>> run = pool.RunAsync(jobs.Select(job => job), caller.Token);
        tracked.Add(new Tracked("the run's task", run));
        await started.Reached.Within();
        await caller.CancelAsync();

        var canceled = await run.ShouldThrowAsync<WorkerPoolCanceledException<Payload, Output>>();
        tracked.Add(new Tracked("the exception", canceled));
        tracked.Add(new Tracked("the outcome list", canceled.Results));
        tracked.Add(new Tracked("a completed job's value", canceled.Results[0].Value!));
        return tracked;
    }

    private static IEnumerable<string> StillAlive(List<Tracked> tracked, ConcurrentQueue<WeakReference> markers) =>
        tracked.Where(t => t.Reference.IsAlive).Select(t => t.What)
            .Concat(markers.Where(m => m.IsAlive).Select(_ => "a marker registered on a job's token (the run's token source)"));

    private sealed class Payload(int id)
    {
        public int Id { get; } = id;

        public static Payload[] Many(int count) => Enumerable.Range(0, count).Select(i => new Payload(i)).ToArray();
    }

    private sealed class Output(int value)
    {
        public int Value { get; } = value;
    }

    private sealed class RunMarker;

    private sealed record Tracked(string What, WeakReference Reference)
    {
        public Tracked(string what, object target)
            : this(what, new WeakReference(target))
        {
        }

        public static List<Tracked> Jobs(Payload[] jobs) => jobs.Select(job => new Tracked($"job {job.Id}", job)).ToList();
    }

    /// <summary>Completes once <c>target</c> work calls have started. Holds no reference to any job.</summary>
    private sealed class StartSignal(int target)
    {
        private readonly TaskCompletionSource _reached = TestExtensions.NewGate();
        private int _hits;

        public Task Reached => _reached.Task;

        public void Hit()
        {
            if (Interlocked.Increment(ref _hits) == target)
            {
                _reached.TrySetResult();
            }
        }
    }
}
