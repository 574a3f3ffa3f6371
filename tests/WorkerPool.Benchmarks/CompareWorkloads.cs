using System.Diagnostics;
using System.Runtime.CompilerServices;
using static WorkerPool.Benchmarks.CompareChild;

namespace WorkerPool.Benchmarks;

/// <summary>
/// The workloads of <c>--compare</c>, each with the pool and its peers, measured in the same process by
/// <see cref="CompareChild.Interleave"/>. The names below are what the report looks the results up by.
/// </summary>
internal static class CompareWorkloads
{
    public const string Trivial = "trivial";
    public const string Submit = "submit";
    public const string Cancellation = "cancellation";
    public const string Latency = "latency";
    public const string ManyOwners = "many-owners";

    public const string RunAsync = "Pool RunAsync";
    public const string RunAsyncBatched = "Pool RunAsync, WorkerBatchSize 8";

    /// <summary>The <see cref="WorkerPoolOptions.WorkerBatchSize"/> of the batched contenders.</summary>
    public const int BatchSize = 8;
    public const string ForEachSyncLambda = "Parallel.ForEachAsync, sync lambda";
    public const string ForEachAsyncLambda = "Parallel.ForEachAsync, async lambda";
    public const string ForEach = "Parallel.ForEachAsync";
    public const string ForAsync = "Parallel.ForAsync (no shared enumerator)";
    public const string NoPool = "No pool: the jobs called directly, Task.WhenAll";
    public const string SubmitAsync = "Pool SubmitAsync";
    public const string Ideal = "Ideal: one chain of back-to-back delays";
    public const string SingleRun = "Pool RunAsync, 1 run";
    public const string ManyRuns = "Pool RunAsync, many owners";
    public const string ManyRunsBatched = "Pool RunAsync, many owners, WorkerBatchSize 8";

    /// <summary>Info key: the shared pool's PeakWorkers after the many-owners rounds.</summary>
    public const string PeakWorkers = "peak-workers";

    /// <summary>Info keys: wall-clock ns per exception thrown and caught, by one thread alone and by two at once.</summary>
    public const string ThrowNanosecondsOneThread = "throw-ns-1-thread";
    public const string ThrowNanosecondsTwoThreads = "throw-ns-2-threads";

    private static readonly TimeSpan ParkTimeout = TimeSpan.FromSeconds(30);

    public static string StreamAsync(int queueCapacity) => $"Pool StreamAsync, QueueCapacity {queueCapacity:N0}";

    public static string Channel(int capacity) => $"Bounded Channel({capacity:N0}), 1 producer + 2 readers";

    public static string Semaphore(int permits) => $"SemaphoreSlim({permits}), job called directly";

    public static string HandOff(int readers) => $"Bounded Channel, {readers} readers, one value task source per call (a floor)";

    /// <summary>Trivial synchronous jobs: the cost of the machinery around a job that costs nothing.</summary>
    public static void MeasureTrivial(CompareSettings settings, int launch)
    {
        int jobs = settings.TrivialJobs;
        int workers = settings.Workers;
        int[] results = new int[jobs];
        long expectedSum = (long)jobs * (jobs - 1);
        using BoundedWorkerPool<int, int> runPool = Pool(workers, settings.RunQueueCapacity, TrivialContenders.PoolWork, "compare-run");
        using BoundedWorkerPool<int, int> batchedPool = Pool(workers, settings.RunQueueCapacity, TrivialContenders.PoolWork, "compare-run-batched", BatchSize);
        BoundedWorkerPool<int, int>[] streamPools = [.. settings.StreamQueueCapacities.Select(q => Pool(workers, q, TrivialContenders.PoolWork, "compare-stream"))];
        try
        {
            var contenders = new List<Contender>
            {
                new(RunAsync, jobs, () => TimeAsync(async () => Check((await runPool.RunAsync(Enumerable.Range(0, jobs))).Count == jobs))),
                new(RunAsyncBatched, jobs, () => TimeAsync(async () => Check((await batchedPool.RunAsync(Enumerable.Range(0, jobs))).Count == jobs))),
            };
            foreach (BoundedWorkerPool<int, int> pool in streamPools)
            {
                contenders.Add(new(StreamAsync(pool.GetStatistics().QueueCapacity), jobs, () => TimeAsync(async () =>
                {
                    long sum = 0;
                    await foreach (JobResult<int, int> result in pool.StreamAsync(Enumerable.Range(0, jobs)))
                    {
                        sum += result.Value;
                    }

                    Check(sum == expectedSum);
                })));
            }

            contenders.AddRange(
            [
                new(ForEachSyncLambda, jobs, () => FillAsync(results, () => TrivialContenders.ParallelForEachAsync(0, jobs, results, workers)), ReportRounds: true),
                new(
                    ForEachAsyncLambda,
                    jobs,
                    () => FillAsync(results, () => TrivialContenders.ParallelForEachAwaitingAsync(0, jobs, results, workers, TrivialContenders.PoolWork)),
                    ReportRounds: true),
                new(
                    Channel(settings.ChannelCapacity),
                    jobs,
                    () => FillAsync(results, () => TrivialContenders.ChannelAsync(0, jobs, results, workers, settings.ChannelCapacity, TrivialContenders.PoolWork))),
                new(ForAsync, jobs, () => FillAsync(results, () => TrivialContenders.ParallelForAsync(0, jobs, results, workers))),
            ]);
            Interleave(Trivial, contenders, settings.Rounds, settings.WarmUp, launch, trimMemory: true);
        }
        finally
        {
            foreach (BoundedWorkerPool<int, int> pool in streamPools)
            {
                pool.Dispose();
            }
        }
    }

    /// <summary>
    /// SubmitAsync: many callers, each submitting single trivial jobs one after the other, against the same callers
    /// guarded by a semaphore with as many permits as the pool has workers, calling the job themselves.
    /// </summary>
    public static void MeasureSubmit(CompareSettings settings, int launch)
    {
        using BoundedWorkerPool<int, int> pool = Pool(settings.Workers, settings.RunQueueCapacity, TrivialContenders.PoolWork, "compare-submit");
        using var semaphore = new SemaphoreSlim(settings.Workers, settings.Workers);
        var handOff = new ChannelHandOff(settings.Workers, settings.RunQueueCapacity, TrivialContenders.PoolWork);
        try
        {
            long calls = (long)settings.Callers * settings.CallsPerCaller;
            Interleave(
                Submit,
                [
                    new(SubmitAsync, calls, () => TimeAsync(() => CallersAsync(settings, x => pool.SubmitAsync(x)))),
                    new(Semaphore(settings.Workers), calls, () => TimeAsync(() => CallersAsync(settings, x => GuardedAsync(semaphore, x)))),
                    new(HandOff(settings.Workers), calls, () => TimeAsync(() => CallersAsync(settings, handOff.CallAsync))),
                ],
                settings.Rounds,
                settings.WarmUp,
                launch);
        }
        finally
        {
            handOff.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// Cancellation: as many jobs as workers, every one parked in <c>Task.Delay(Timeout.Infinite, token)</c>, then the
    /// caller's token is cancelled. Timed from <c>Cancel()</c> until the call has returned.
    /// </summary>
    public static void MeasureCancellation(CompareSettings settings, int launch)
    {
        int jobs = settings.CancellationJobs;
        var current = new StrongBox<ParkingLot>();
        using var pool = new BoundedWorkerPool<int, int>(
            (x, token) => new ValueTask<int>(current.Value!.ParkAsync(x, token)),
            new WorkerPoolOptions { MaxWorkers = jobs, QueueCapacity = Math.Max(jobs, settings.RunQueueCapacity), Name = "compare-cancellation" });
        Interleave(
            Cancellation,
            [
                new(RunAsync, jobs, () => CancelParkedAsync(jobs, (lot, token) =>
                {
                    current.Value = lot;
                    return pool.RunAsync(Enumerable.Range(0, jobs), token);
                })),
                // The same job, wrapped the same way as the pool's: no async lambda whose own await would rethrow.
                new(ForEach, jobs, () => CancelParkedAsync(jobs, (lot, token) => Parallel.ForEachAsync(
                    Enumerable.Range(0, jobs),
                    new ParallelOptions { MaxDegreeOfParallelism = jobs, CancellationToken = token },
                    (x, ct) => new ValueTask(lot.ParkAsync(x, ct))))),
                // A baseline: the same jobs with no scheduler at all, each throwing its own exception, awaited together.
                new(NoPool, jobs, () => CancelParkedAsync(jobs, (lot, token) =>
                {
                    var parked = new Task<int>[jobs];
                    for (int x = 0; x < jobs; x++)
                    {
                        parked[x] = lot.ParkAsync(x, token);
                    }

                    return Task.WhenAll(parked);
                })),
            ],
            settings.CancellationRounds,
            settings.WarmUp,
            launch);

        // The floor of this workload: every job throws one exception of its own, and throws may not run in parallel.
        Info(ThrowNanosecondsOneThread, ThrowCost.NanosecondsPerThrow(threads: 1, throwsPerThread: 2 * jobs));
        Info(ThrowNanosecondsTwoThreads, ThrowCost.NanosecondsPerThrow(threads: 2, throwsPerThread: jobs));
    }

    /// <summary>
    /// Latency-bound jobs that each await a short delay, many at once. The ideal is one worker's share of the delays
    /// awaited back to back, alone: what a perfect scheduler would take, at this machine's real timer granularity.
    /// </summary>
    public static void MeasureLatency(CompareSettings settings, int launch)
    {
        int jobs = settings.LatencyJobs;
        int workers = settings.LatencyWorkers;
        int delay = settings.LatencyDelayMilliseconds;
        int delaysPerWorker = (jobs + workers - 1) / workers;
        int[] results = new int[jobs];
        // The job does not pass its token on, as in LatencyBenchmarks: a registration per delay would be a cost of the job.
        Func<int, CancellationToken, ValueTask<int>> work = async (x, _) =>
        {
            await Task.Delay(delay, CancellationToken.None);
            return x;
        };
        using BoundedWorkerPool<int, int> pool = Pool(workers, settings.RunQueueCapacity, work, "compare-latency");
        Interleave(
            Latency,
            [
                new(Ideal, jobs, () => TimeAsync(async () =>
                {
                    for (int i = 0; i < delaysPerWorker; i++)
                    {
                        await Task.Delay(delay);
                    }
                })),
                new(RunAsync, jobs, () => TimeAsync(async () => Check((await pool.RunAsync(Enumerable.Range(0, jobs))).Count == jobs))),
                new(ForEach, jobs, () => TimeAsync(() => TrivialContenders.ParallelForEachAwaitingAsync(0, jobs, results, workers, work))),
            ],
            settings.Rounds,
            settings.WarmUp,
            launch);
    }

    /// <summary>Many owners: one shared pool running many small concurrent runs, against one run of all their jobs.</summary>
    public static void MeasureManyOwners(CompareSettings settings, int launch)
    {
        int owners = settings.Owners;
        int perOwner = settings.JobsPerOwner;
        int total = owners * perOwner;
        using BoundedWorkerPool<int, int> single = Pool(settings.Workers, settings.RunQueueCapacity, TrivialContenders.PoolWork, "compare-single-run");
        using BoundedWorkerPool<int, int> shared = Pool(settings.Workers, settings.RunQueueCapacity, TrivialContenders.PoolWork, "compare-many-owners");
        using BoundedWorkerPool<int, int> sharedBatched = Pool(settings.Workers, settings.RunQueueCapacity, TrivialContenders.PoolWork, "compare-many-owners-batched", BatchSize);
        Interleave(
            ManyOwners,
            [
                new(SingleRun, total, () => TimeAsync(async () => Check((await single.RunAsync(Enumerable.Range(0, total))).Count == total))),
                new(ManyRuns, total, () => TimeAsync(() => ManyRunsAsync(shared, owners, perOwner))),
                new(ManyRunsBatched, total, () => TimeAsync(() => ManyRunsAsync(sharedBatched, owners, perOwner))),
            ],
            settings.Rounds,
            settings.WarmUp,
            launch);
        Info(PeakWorkers, Math.Max(shared.GetStatistics().PeakWorkers, sharedBatched.GetStatistics().PeakWorkers));
    }

    private static async Task ManyRunsAsync(BoundedWorkerPool<int, int> pool, int owners, int perOwner)
    {
        var runs = new Task<IReadOnlyList<JobResult<int, int>>>[owners];
        for (int owner = 0; owner < owners; owner++)
        {
            runs[owner] = pool.RunAsync(Enumerable.Range(owner * perOwner, perOwner));
        }

        foreach (IReadOnlyList<JobResult<int, int>> results in await Task.WhenAll(runs))
        {
            Check(results.Count == perOwner);
        }
    }

    private static BoundedWorkerPool<int, int> Pool(int workers, int queueCapacity, Func<int, CancellationToken, ValueTask<int>> work, string name, int workerBatchSize = 1) =>
        new(work, new WorkerPoolOptions { MaxWorkers = workers, QueueCapacity = queueCapacity, Name = name, WorkerBatchSize = workerBatchSize });

    /// <summary>Times a contender that writes <c>results[x]</c>, and checks every result afterwards.</summary>
    private static async Task<Sample> FillAsync(int[] results, Func<Task> run)
    {
        Array.Clear(results);
        Sample sample = await TimeAsync(run);
        for (int x = 0; x < results.Length; x++)
        {
            Check(results[x] == TrivialContenders.Work(x));
        }

        return sample;
    }

    /// <summary>Starts the callers at once; each makes its calls one after the other.</summary>
    private static async Task CallersAsync(CompareSettings settings, Func<int, ValueTask<int>> call)
    {
        int calls = settings.CallsPerCaller;
        var callers = new Task<long>[settings.Callers];
        for (int caller = 0; caller < callers.Length; caller++)
        {
            callers[caller] = Task.Run(async () =>
            {
                long sum = 0;
                for (int x = 0; x < calls; x++)
                {
                    sum += await call(x);
                }

                return sum;
            });
        }

        foreach (long sum in await Task.WhenAll(callers))
        {
            Check(sum == (long)calls * (calls - 1));
        }
    }

    private static async ValueTask<int> GuardedAsync(SemaphoreSlim semaphore, int x)
    {
        await semaphore.WaitAsync();
        try
        {
            return await TrivialContenders.PoolWork(x, CancellationToken.None);
        }
        finally
        {
            semaphore.Release();
        }
    }

    /// <summary>
    /// Starts a run of parked jobs and waits until every one is parked; then the measured part: from <c>Cancel()</c>
    /// until the call has returned. Exceptions are counted, and allocation measured, until the last job has exited.
    /// </summary>
    private static async Task<Sample> CancelParkedAsync(int jobs, Func<ParkingLot, CancellationToken, Task> start)
    {
        var lot = new ParkingLot(jobs);
        using var cts = new CancellationTokenSource();
        Task run = start(lot, cts.Token);
        await lot.AllEntered.WaitAsync(ParkTimeout);

        FirstChanceCounter.Start();
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        long started = Stopwatch.GetTimestamp();
        cts.Cancel();
        try
        {
            await run;
        }
        catch (OperationCanceledException)
        {
        }

        double nanoseconds = Stopwatch.GetElapsedTime(started).TotalNanoseconds;
        int stillRunning = lot.StillRunning;
        await lot.AllExited.WaitAsync(ParkTimeout);
        int exceptions = FirstChanceCounter.Stop();
        return new Sample(nanoseconds, GC.GetTotalAllocatedBytes(precise: true) - allocated, exceptions, stillRunning);
    }

    private static void Check(bool expected)
    {
        if (!expected)
        {
            throw new InvalidOperationException("A contender returned a wrong or incomplete result.");
        }
    }
}
