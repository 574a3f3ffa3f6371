using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Tasks.Sources;
using Microsoft.Extensions.Logging;
using WorkerPool.Tests.Support;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace WorkerPool.Tests.LeakProof;

/// <summary>
/// Random scenarios, each built from an explicit seed: pool sizes, worker batches, job counts, per-job behaviour, error mode, ordering,
/// RunAsync, StreamAsync, many concurrent SubmitAsync callers or several of these at once, and an action in the middle
/// of the run. Every run of every scenario must pass the same three checks as the exit-path matrix
/// (<see cref="ExitAudit"/>), and every job must run in its own caller's ExecutionContext.
/// </summary>
/// <remarks>
/// <para>
/// <c>WORKERPOOL_STRESS_ITERATIONS</c> overrides the number of scenarios (for example 100000 for a long soak), and
/// <c>WORKERPOOL_STRESS_SEED</c> the first seed. A failure names its seed; run that scenario alone with
/// <c>WORKERPOOL_STRESS_SEED=&lt;seed&gt; WORKERPOOL_STRESS_ITERATIONS=1</c>.
/// </para>
/// <para>
/// Every job ends by itself within a few milliseconds, whatever happens to its token, so every scenario ends. The
/// checks do not depend on timing: a timer that fires early or late only changes which path a run takes.
/// </para>
/// <para>
/// Context: every caller (a run, a stream, a submission, a job's nested call) sets <see cref="Ambient"/> to itself and
/// starts an <see cref="Activity"/> before it calls the pool. Every work call, every await inside a job, and every pull
/// from a source must see its own caller and its caller's activity; every caller must see itself again after each call.
/// A stream is called under a decoy and enumerated under its caller: its jobs must see the caller, not the decoy. Some
/// jobs set <see cref="Ambient"/> to a junk value themselves, synchronously (leaking it into the worker's context) or
/// inside their own async body; no later job and no caller may see it.
/// </para>
/// <para>
/// Hostile parts: jobs whose <see cref="ValueTask{TResult}"/> source throws from <c>GetStatus</c> or
/// <c>OnCompleted</c> (they must end Failed with that exception), jobs that await a run of their own pool (nested
/// RunAsync, SubmitAsync or StreamAsync, two levels deep at most), a logger that throws from every call, and a
/// <see cref="MeterListener"/> on the pool's meter that throws from every callback. The listener sees every pool in the
/// process; it lives for one scenario only, and test classes run one at a time.
/// </para>
/// </remarks>
[Trait("Category", "Slow")]
public sealed class RandomizedStressTests(ITestOutputHelper output) : PoolTest
{
    public const string IterationsVariable = "WORKERPOOL_STRESS_ITERATIONS";
    public const string SeedVariable = "WORKERPOOL_STRESS_SEED";
    private const int DefaultIterations = 1_700;
    private const int DefaultFirstSeed = 20_000;

    /// <summary>How deep jobs may nest calls on their own pool: a job at this depth makes no nested call.</summary>
    private const int MaxNestingDepth = 2;

    /// <summary>A hang detector per scenario, not a synchroniser: a scenario normally takes a few milliseconds.</summary>
    private static readonly TimeSpan ScenarioHangLimit = TimeSpan.FromSeconds(30);

    /// <summary>The value every caller sets to itself before it calls the pool, and every job checks.</summary>
    private static readonly AsyncLocal<Caller?> Ambient = new();

    /// <summary>What a job that meddles with its context sets <see cref="Ambient"/> to.</summary>
    private static readonly Caller JunkCaller = new("junk");

    /// <summary>What a stream's caller has set when it calls StreamAsync; the stream's jobs must never see it.</summary>
    private static readonly Caller StreamDecoy = new("stream decoy");

    private enum Behaviour
    {
        ReturnSync,
        YieldThenReturn,
        ThrowSync,
        ThrowAsync,
        WaitForCancellation,
        IgnoreTokenBriefly,

        /// <summary>Returns a ValueTask whose source throws from GetStatus.</summary>
        StatusThrows,

        /// <summary>Returns a ValueTask whose source reports Pending and throws from OnCompleted.</summary>
        OnCompletedThrows,

        /// <summary>Awaits a nested call on its own pool (<see cref="NestedCall"/>, from the job's Amount) for its children.</summary>
        Nested,
    }

    /// <summary>What a job does to its own context.</summary>
    private enum Junk
    {
        None,

        /// <summary>Sets junk synchronously in its work call, so that it leaks into the worker's context.</summary>
        Sync,

        /// <summary>Sets junk inside its async body, and checks that it sees its own junk after an await.</summary>
        Async,
    }

    private enum NestedCall
    {
        Run,
        Submit,
        Stream,
    }

    private enum RunKind
    {
        Run,
        Stream,

        /// <summary>One concurrent SubmitAsync caller per job.</summary>
        Submit,
    }

    private enum Shape
    {
        OneRunAsync,
        OneStreamAsync,
        Submissions,
        ConcurrentRuns,
    }

    private enum MidRunAction
    {
        None,
        CancelAfterOutcomes,
        DisposeAfterOutcomes,
        ConsumerBreaksAfterItems,
    }

    private enum LoggerFault
    {
        None,

        /// <summary>IsEnabled says yes to every level; Log and BeginScope throw.</summary>
        LogThrows,

        /// <summary>IsEnabled throws too.</summary>
        EverythingThrows,
    }

    private enum Ending
    {
        Completed,
        Canceled,
        RootCause,
        ConsumerLeft,
        Submitted,
    }

    [Fact]
    public async Task Pool_RandomScenarios_EveryRunEndsCleanAndAccountsForEveryPulledJob()
    {
        int iterations = ReadVariable(IterationsVariable) ?? DefaultIterations;
        int firstSeed = ReadVariable(SeedVariable) ?? DefaultFirstSeed;
        var tally = new Tally();
        var clock = Stopwatch.StartNew();

        for (int i = 0; i < iterations; i++)
        {
            int seed = firstSeed + i;
            Scenario scenario = Scenario.Generate(seed);
            try
            {
                await new ScenarioRun(scenario, tally).ExecuteAsync().WaitAsync(ScenarioHangLimit);
            }
            catch (Exception exception)
            {
                throw new XunitException(
                    $"Scenario with seed {seed} failed; run it alone with {SeedVariable}={seed} {IterationsVariable}=1.{Environment.NewLine}" +
                    $"{scenario}{Environment.NewLine}{exception}");
            }
        }

        clock.Stop();
        output.WriteLine($"{iterations} scenarios (seeds {firstSeed}..{firstSeed + iterations - 1}) in {clock.Elapsed.TotalSeconds:0.0} s.");
        output.WriteLine(tally.ToString());
        tally.Runs.Should().BeGreaterThanOrEqualTo(iterations);
    }

    private static int? ReadVariable(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : null;

    /// <summary>
    /// One job: which run it belongs to, its position, what it does, and how much of it (yields, milliseconds, or for
    /// <see cref="Behaviour.Nested"/> the kind of nested call). <see cref="Caller"/> is set when the job is handed to the
    /// pool: the caller whose context the job must run in.
    /// </summary>
    private readonly record struct StressJob(
        int Run,
        int Index,
        Behaviour Behaviour,
        int Amount,
        Junk Junk,
        int Depth,
        StressJob[]? Children,
        Caller? Caller = null)
    {
        public override string ToString() => $"job {Run}/{Index} at depth {Depth} ({Behaviour}, junk {Junk}, caller {Caller})";
    }

    /// <summary>
    /// Whoever calls the pool: a run's caller, one submission, or a job's nested call. It is the value of
    /// <see cref="Ambient"/> in its own context, and counts its jobs' work calls executing now.
    /// </summary>
    private sealed class Caller(string name)
    {
        public int Executing;

        public Activity? Activity { get; set; }

        public override string ToString() => name;
    }

    private sealed class StressJobException(StressJob job) : Exception($"{job} failed");

    private sealed class StressSourceException(int run) : Exception($"the source of run {run} failed");

    private sealed class BrokenValueTaskException(StressJob job) : Exception($"the value task of {job} cannot be inspected")
    {
        public StressJob Job { get; } = job;
    }

    private sealed record RunPlan(int Id, RunKind Kind, bool AsyncSource, bool SlowConsumer, StressJob[] Jobs, int SourceThrowsAfter, int BreakAfter)
    {
        public override string ToString()
        {
            var behaviours = Flatten(Jobs).GroupBy(job => job.Behaviour).OrderBy(g => g.Key).Select(g => $"{g.Key}={g.Count()}");
            int junk = Flatten(Jobs).Count(job => job.Junk != Junk.None);
            string source = Kind == RunKind.Submit ? "one caller per job" : AsyncSource ? "async source" : "sync source";
            string throws = SourceThrowsAfter >= 0 ? $", source throws after {SourceThrowsAfter}" : string.Empty;
            string breaks = BreakAfter > 0 ? $", consumer breaks after {BreakAfter}" : string.Empty;
            string slow = SlowConsumer && Kind == RunKind.Stream ? ", slow consumer" : string.Empty;
            return $"run {Id}: {Kind}, {Jobs.Length} jobs (with nested children: {string.Join(' ', behaviours)}; {junk} set junk), {source}{throws}{breaks}{slow}";
        }

        private static IEnumerable<StressJob> Flatten(IEnumerable<StressJob> jobs) =>
            jobs.SelectMany(job => new[] { job }.Concat(Flatten(job.Children ?? [])));
    }

    /// <summary>How often jobs of one scenario do each thing.</summary>
    private sealed record Rates(double Throw, double Wait, double Ignore, double Broken, double Nested, double Junk);

    private sealed record Scenario(
        int Seed,
        int MaxWorkers,
        int QueueCapacity,
        ErrorMode ErrorMode,
        bool PreserveOrder,
        TimeSpan JobTimeout,
        Shape Shape,
        RunPlan[] Runs,
        MidRunAction Action,
        int K,
        int Target,
        LoggerFault LoggerFault,
        bool MeterThrows,
        bool FaultsAreCancellations,
        int WorkerBatchSize)
    {
        public static Scenario Generate(int seed)
        {
            var random = new Random(seed);
            int maxWorkers = random.Next(1, 9);
            int queueCapacity = random.Next(1, 17);
            ErrorMode errorMode = random.Next(3) == 0 ? ErrorMode.StopOnFirstError : ErrorMode.Collect;
            bool preserveOrder = random.Next(2) == 0;
            TimeSpan jobTimeout = random.Next(4) == 0 ? TimeSpan.FromMilliseconds(random.Next(1, 4)) : Timeout.InfiniteTimeSpan;
            var shape = (Shape)random.Next(4);

            // Per-scenario rates, so that some scenarios have no failures, slow jobs, nesting or junk at all.
            var rates = new Rates(
                Throw: Pick(random, 0, 0.01, 0.05, 0.2),
                Wait: Pick(random, 0, 0.02, 0.1),
                Ignore: Pick(random, 0, 0.02, 0.1),
                Broken: Pick(random, 0, 0, 0.01, 0.05),
                Nested: Pick(random, 0, 0, 0.02, 0.08),
                Junk: Pick(random, 0, 0.1, 0.5));
            LoggerFault loggerFault = random.Next(8) switch
            {
                0 => LoggerFault.LogThrows,
                1 => LoggerFault.EverythingThrows,
                _ => LoggerFault.None,
            };
            bool meterThrows = random.Next(8) == 0;
            bool faultsAreCancellations = random.Next(2) == 0;

            int runCount = shape == Shape.ConcurrentRuns ? random.Next(2, 5) : 1;
            int totalJobs = random.Next(0, 201);
            var runs = new RunPlan[runCount];
            for (int r = 0; r < runCount; r++)
            {
                RunKind kind = shape switch
                {
                    Shape.OneRunAsync => RunKind.Run,
                    Shape.OneStreamAsync => RunKind.Stream,
                    Shape.Submissions => RunKind.Submit,
                    _ => (RunKind)random.Next(3),
                };
                int count = runCount == 1 ? totalJobs : random.Next(0, (totalJobs / runCount) + 1);
                var jobs = new StressJob[count];
                for (int i = 0; i < count; i++)
                {
                    jobs[i] = NewJob(random, r, i, rates, depth: 0);
                }

                int sourceThrowsAfter = random.Next(12) == 0 && kind != RunKind.Submit ? random.Next(0, count + 1) : -1;
                runs[r] = new RunPlan(r, kind, AsyncSource: random.Next(2) == 0, SlowConsumer: random.Next(3) == 0, jobs, sourceThrowsAfter, BreakAfter: 0);
            }

            int[] streams = runs.Where(run => run.Kind == RunKind.Stream).Select(run => run.Id).ToArray();
            var action = (MidRunAction)random.Next(streams.Length > 0 ? 4 : 3);
            int k = random.Next(0, Math.Max(1, runs.Sum(run => run.Jobs.Length)) + 1);
            int target = action == MidRunAction.ConsumerBreaksAfterItems ? streams[random.Next(streams.Length)] : random.Next(runCount);
            if (action == MidRunAction.ConsumerBreaksAfterItems)
            {
                k = random.Next(1, Math.Max(1, runs[target].Jobs.Length) + 1);
                runs[target] = runs[target] with { BreakAfter = k };
            }

            // Drawn last, so that the rest of a seed's scenario is what it was before batches were drawn.
            int workerBatchSize = random.Next(2) == 0 ? 1 : random.Next(2, 9);
            return new Scenario(
                seed, maxWorkers, queueCapacity, errorMode, preserveOrder, jobTimeout, shape, runs, action, k, target,
                loggerFault, meterThrows, faultsAreCancellations, workerBatchSize);
        }

        private static StressJob NewJob(Random random, int run, int index, Rates rates, int depth)
        {
            double roll = random.NextDouble();
            double throws = rates.Throw;
            double waits = throws + rates.Wait;
            double ignores = waits + rates.Ignore;
            double broken = ignores + rates.Broken;
            double nested = broken + (depth < MaxNestingDepth ? rates.Nested : 0);
            Behaviour behaviour =
                roll < throws ? (random.Next(2) == 0 ? Behaviour.ThrowSync : Behaviour.ThrowAsync)
                : roll < waits ? Behaviour.WaitForCancellation
                : roll < ignores ? Behaviour.IgnoreTokenBriefly
                : roll < broken ? (random.Next(2) == 0 ? Behaviour.StatusThrows : Behaviour.OnCompletedThrows)
                : roll < nested ? Behaviour.Nested
                : random.Next(2) == 0 ? Behaviour.ReturnSync
                : Behaviour.YieldThenReturn;
            int amount = behaviour switch
            {
                Behaviour.WaitForCancellation => random.Next(1, 4),
                Behaviour.IgnoreTokenBriefly => random.Next(0, 2),
                Behaviour.Nested => random.Next(Enum.GetValues<NestedCall>().Length),
                _ => random.Next(1, 4),
            };
            Junk junk = random.NextDouble() < rates.Junk ? (random.Next(2) == 0 ? Junk.Sync : Junk.Async) : Junk.None;
            StressJob[]? children = null;
            if (behaviour == Behaviour.Nested)
            {
                children = new StressJob[random.Next(1, 5)];
                for (int c = 0; c < children.Length; c++)
                {
                    children[c] = NewJob(random, run, c, rates, depth + 1);
                }
            }

            return new StressJob(run, index, behaviour, amount, junk, depth, children);
        }

        private static double Pick(Random random, params double[] choices) => choices[random.Next(choices.Length)];

        public override string ToString()
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"seed {Seed}: MaxWorkers={MaxWorkers} QueueCapacity={QueueCapacity} WorkerBatchSize={WorkerBatchSize} ErrorMode={ErrorMode} PreserveOrder={PreserveOrder} ");
            text.Append(CultureInfo.InvariantCulture, $"JobTimeout={(JobTimeout == Timeout.InfiniteTimeSpan ? "none" : JobTimeout.TotalMilliseconds + " ms")} ");
            text.Append(CultureInfo.InvariantCulture, $"{Shape}, action {Action} (k={K}, target run {Target})");
            if (LoggerFault != LoggerFault.None || MeterThrows)
            {
                string thrown = FaultsAreCancellations ? "OperationCanceledException" : "InvalidOperationException";
                text.Append(CultureInfo.InvariantCulture, $", logger {LoggerFault}, meter listener {(MeterThrows ? "throws" : "none")} ({thrown})");
            }

            foreach (RunPlan run in Runs)
            {
                text.AppendLine().Append("  ").Append(run);
            }

            return text.ToString();
        }
    }

    /// <summary>How one submission ended, as its caller saw it. <c>Pulled</c> is 1 if the pool took the job in, else 0.</summary>
    private sealed record Submission(StressJob Job, long Pulled, int ExecutingAtExit, int? Value, Exception? Error, bool Canceled);

    /// <summary>How one run ended, as its caller saw it. A group of submissions has no outcomes but its submissions.</summary>
    private sealed record RunReport(
        RunPlan Plan,
        int ExecutingAtExit,
        long Pulled,
        List<JobResult<StressJob, int>> Outcomes,
        Exception? Error,
        bool ConsumerLeft,
        Submission[]? Submissions = null);

    /// <summary>One scenario, executed on a pool of its own.</summary>
    private sealed class ScenarioRun
    {
        private const int ProblemSamples = 5;

        private readonly Scenario _scenario;
        private readonly Tally _tally;
        private readonly WorkProbe<StressJob>[] _probes;
        private readonly Func<StressJob, CancellationToken, ValueTask<int>>[] _bodies;
        private readonly Caller[] _callers;
        private readonly CancellationTokenSource[] _cancel;
        private readonly bool[] _cancelIssued;
        private readonly TaskCompletionSource _kWorkCallsEnded = TestExtensions.NewGate();
        private readonly ConcurrentQueue<string> _mismatchSamples = new();
        private readonly ConcurrentQueue<string> _problems = new();
        private BoundedWorkerPool<StressJob, int>? _pool;
        private bool _disposeIssued;
        private int _workCallsEnded;
        private int _contextMismatches;

        // Nested calls, summed for the audit: the jobs they pulled, and their work calls executing when each returned.
        private long _nestedPulled;

        // Each nested call's account, for a failure's message: what it pulled and how it ended.
        private readonly ConcurrentQueue<string> _nestedLog = new();
        private int _nestedExecutingAtExit;

        public ScenarioRun(Scenario scenario, Tally tally)
        {
            _scenario = scenario;
            _tally = tally;
            _probes = scenario.Runs.Select(_ => new WorkProbe<StressJob>()).ToArray();
            _bodies = _probes.Select(probe => probe.Wrap<int>(BodyAsync)).ToArray();
            _callers = scenario.Runs.Select(plan => new Caller($"run {plan.Id}")).ToArray();
            _cancel = scenario.Runs.Select(_ => new CancellationTokenSource()).ToArray();
            _cancelIssued = new bool[scenario.Runs.Length];
            if (scenario.K == 0)
            {
                _kWorkCallsEnded.TrySetResult();
            }
        }

        private BoundedWorkerPool<StressJob, int> Pool => _pool!;

        public async Task ExecuteAsync()
        {
            using MeterListener? meter = _scenario.MeterThrows ? StartThrowingMeterListener() : null;
            ILoggerFactory? loggerFactory = _scenario.LoggerFault == LoggerFault.None
                ? null
                : new ThrowingLoggerFactory(_scenario.LoggerFault == LoggerFault.EverythingThrows, NewFault);
            _tally.AddHostility(_scenario.LoggerFault != LoggerFault.None, _scenario.MeterThrows);
            var pool = new BoundedWorkerPool<StressJob, int>(
                Work,
                new WorkerPoolOptions
                {
                    MaxWorkers = _scenario.MaxWorkers,
                    QueueCapacity = _scenario.QueueCapacity,
                    ErrorMode = _scenario.ErrorMode,
                    PreserveOrder = _scenario.PreserveOrder,
                    JobTimeout = _scenario.JobTimeout,
                    WorkerBatchSize = _scenario.WorkerBatchSize,
                    Name = $"stress/{_scenario.Seed}",
                },
                loggerFactory);
            _pool = pool;
            try
            {
                var audit = ExitAudit.Start(pool);

                // Each run starts synchronously here (a stream at its first MoveNextAsync, each submission at its call),
                // before any action is taken.
                Task<RunReport>[] runs = _scenario.Runs.Select(plan => plan.Kind switch
                {
                    RunKind.Run => RunAsync(pool, plan),
                    RunKind.Stream => StreamAsync(pool, plan),
                    _ => SubmitAllAsync(pool, plan),
                }).ToArray();
                Task<RunReport[]> all = Task.WhenAll(runs);
                if (_scenario.Action is MidRunAction.CancelAfterOutcomes or MidRunAction.DisposeAfterOutcomes)
                {
                    await Task.WhenAny(_kWorkCallsEnded.Task, all);
                    if (!all.IsCompleted)
                    {
                        if (_scenario.Action == MidRunAction.CancelAfterOutcomes)
                        {
                            Volatile.Write(ref _cancelIssued[_scenario.Target], true);
                            await _cancel[_scenario.Target].CancelAsync();
                        }
                        else
                        {
                            Volatile.Write(ref _disposeIssued, true);
                            await pool.DisposeAsync();
                        }

                        _tally.Add(_scenario.Action);
                    }
                }

                RunReport[] reports = await all;
                RunExit[] exits = reports.Select(Check).ToArray();

                // The nested calls' jobs are counted by the pool like any other: one more entry for all of them.
                RunExit nested = RunExit.WithoutOutcomes(Volatile.Read(ref _nestedExecutingAtExit), Interlocked.Read(ref _nestedPulled));
                try
                {
                    await audit.VerifyAsync($"seed {_scenario.Seed}", [.. exits, nested]);
                }
                catch (XunitException failed)
                {
                    // What the pool counted, each run's report and each nested call's: enough to tell which side is off.
                    WorkerPoolStatistics statistics = pool.GetStatistics();
                    throw new XunitException(
                        $"{failed.Message}{Environment.NewLine}Counted by the pool: {statistics.Succeeded} succeeded, {statistics.Failed} failed, " +
                        $"{statistics.TimedOut} timed out, {statistics.Canceled} cancelled.{Environment.NewLine}" +
                        string.Join(Environment.NewLine, reports.Select(r => $"run {r.Plan.Id}: pulled {r.Pulled}, {r.Outcomes.Count} outcome(s), {r.Error?.GetType().Name ?? "no error"}")) +
                        Environment.NewLine + string.Join(Environment.NewLine, _nestedLog));
                }

                Volatile.Read(ref _contextMismatches).Should().Be(
                    0, "every job, source and caller must see its own caller's context; for example: {0}", string.Join(" | ", _mismatchSamples));
                _problems.Should().BeEmpty("every nested call must end in a way its jobs allow");
            }
            finally
            {
                await pool.DisposeAsync();
                foreach (CancellationTokenSource cts in _cancel)
                {
                    cts.Dispose();
                }
            }
        }

        private Exception NewFault(string where) => _scenario.FaultsAreCancellations
            ? new OperationCanceledException($"{where} throws")
            : new InvalidOperationException($"{where} throws");

        /// <summary>A listener on every instrument of the pool's meter, whose every callback throws.</summary>
        private MeterListener StartThrowingMeterListener()
        {
            var listener = new MeterListener
            {
                InstrumentPublished = static (instrument, published) =>
                {
                    if (instrument.Meter.Name == WorkerPoolMetrics.MeterName)
                    {
                        published.EnableMeasurementEvents(instrument);
                    }
                },
            };
            // On .NET 8, Dispose leaves a listener subscribed to its instruments unless MeasurementsCompleted is set.
            listener.MeasurementsCompleted = static (_, _) => { };
            listener.SetMeasurementEventCallback<long>((_, _, _, _) => throw NewFault("a long measurement callback"));
            listener.SetMeasurementEventCallback<int>((_, _, _, _) => throw NewFault("an int measurement callback"));
            listener.SetMeasurementEventCallback<double>((_, _, _, _) => throw NewFault("a double measurement callback"));
            listener.Start();
            return listener;
        }

        private ValueTask<int> Work(StressJob job, CancellationToken token)
        {
            CheckJobContext(job, job.Caller, "as its work call began");
            try
            {
                switch (job.Behaviour)
                {
                    case Behaviour.ThrowSync:
                        WorkCallEnded();
                        throw new StressJobException(job);
                    case Behaviour.StatusThrows:
                    case Behaviour.OnCompletedThrows:
                        WorkCallEnded();
                        _tally.AddBrokenValueTask();
                        return new ValueTask<int>(new BrokenValueTaskSource(job), 0);
                    default:
                        return job.Depth == 0 ? _bodies[job.Run](job, token) : BodyAsync(job, token);
                }
            }
            finally
            {
                if (job.Junk == Junk.Sync)
                {
                    // Synchronously, after the body's synchronous part: the junk leaks into the worker's context.
                    Ambient.Value = JunkCaller;
                    Activity.Current = null;
                }
            }
        }

        private async ValueTask<int> BodyAsync(StressJob job, CancellationToken token)
        {
            Caller own = job.Caller!;
            Caller expected = own;
            Interlocked.Increment(ref own.Executing);
            try
            {
                if (job.Junk == Junk.Async)
                {
                    // Inside its own async body: the job's own context sees it, nobody else's.
                    Ambient.Value = JunkCaller;
                    expected = JunkCaller;
                    await Task.Yield();
                    CheckJobContext(job, expected, "after setting junk and yielding");
                }

                switch (job.Behaviour)
                {
                    case Behaviour.ReturnSync:
                        return job.Index;
                    case Behaviour.YieldThenReturn:
                        for (int i = 0; i < job.Amount; i++)
                        {
                            await Task.Yield();
                        }

                        return job.Index;
                    case Behaviour.ThrowAsync:
                        await Task.Yield();
                        throw new StressJobException(job);
                    case Behaviour.WaitForCancellation:
                        // Bounded, so that the run ends even when nothing cancels it.
                        await Task.Delay(TimeSpan.FromMilliseconds(job.Amount), token);
                        return job.Index;
                    case Behaviour.IgnoreTokenBriefly:
                        // Goes on for a moment whatever its token says.
                        if (job.Amount == 0)
                        {
                            await Task.Yield();
                            await Task.Yield();
                        }
                        else
                        {
                            await Task.Delay(TimeSpan.FromMilliseconds(job.Amount), CancellationToken.None);
                        }

                        return job.Index;
                    case Behaviour.Nested:
                        bool canceled = await NestedAsync(job, token);
                        CheckJobContext(job, expected, "after its nested call");
                        if (canceled && token.IsCancellationRequested)
                        {
                            // Cancelled with the nested call: the job ends Canceled or TimedOut, like a job that waits.
                            throw new OperationCanceledException(token);
                        }

                        return job.Index;
                    default:
                        throw new UnreachableException();
                }
            }
            finally
            {
                CheckJobContext(job, expected, "as its work call ended");
                Interlocked.Decrement(ref own.Executing);
                WorkCallEnded();
            }
        }

        private void WorkCallEnded()
        {
            if (Interlocked.Increment(ref _workCallsEnded) == _scenario.K)
            {
                _kWorkCallsEnded.TrySetResult();
            }
        }

        /// <summary>Inside a job: it must see <paramref name="expected"/>, its caller's activity, and the mark of its pool.</summary>
        private void CheckJobContext(StressJob job, Caller? expected, string where)
        {
            Caller? seen = Ambient.Value;
            if (!ReferenceEquals(seen, expected) || !ReferenceEquals(Activity.Current, job.Caller?.Activity) || !(JobScope.FindLiveMark(Pool) is not null))
            {
                Mismatch($"{job} {where} saw {Describe(seen)}, activity {Activity.Current?.OperationName ?? "none"}, inside its pool's job: {(JobScope.FindLiveMark(Pool) is not null)}; expected {Describe(expected)}");
            }
        }

        /// <summary>In a caller, after it called the pool: it must see itself and its activity, and be inside a job only if it was before.</summary>
        private void CheckCallerContext(Caller caller, bool insideJob, string where)
        {
            Caller? seen = Ambient.Value;
            if (!ReferenceEquals(seen, caller) || !ReferenceEquals(Activity.Current, caller.Activity) || (JobScope.FindLiveMark(Pool) is not null) != insideJob)
            {
                Mismatch($"{caller} {where} saw {Describe(seen)}, activity {Activity.Current?.OperationName ?? "none"}, inside its pool's job: {(JobScope.FindLiveMark(Pool) is not null)}");
            }
        }

        /// <summary>In a source, as the pool pulls a job: the source is enumerated in its caller's context.</summary>
        private void CheckSourceContext(Caller caller, int index)
        {
            Caller? seen = Ambient.Value;
            if (!ReferenceEquals(seen, caller) || !ReferenceEquals(Activity.Current, caller.Activity))
            {
                Mismatch($"the source of {caller}, pulled for job {index}, saw {Describe(seen)}, activity {Activity.Current?.OperationName ?? "none"}");
            }
        }

        private static string Describe(Caller? caller) => caller?.ToString() ?? "nothing";

        private void Mismatch(string what)
        {
            if (Interlocked.Increment(ref _contextMismatches) <= ProblemSamples)
            {
                _mismatchSamples.Enqueue(what);
            }
        }

        private void Problem(string what) => _problems.Enqueue(what);

        private async Task<RunReport> RunAsync(BoundedWorkerPool<StressJob, int> pool, RunPlan plan)
        {
            WorkProbe<StressJob> probe = _probes[plan.Id];
            Caller caller = _callers[plan.Id];
            CancellationToken token = _cancel[plan.Id].Token;
            Ambient.Value = caller;
            using Activity activity = new Activity(caller.ToString()).Start();
            caller.Activity = activity;

            Func<long> pulled;
            Task<IReadOnlyList<JobResult<StressJob, int>>> run;
            if (plan.AsyncSource)
            {
                var source = Sources.CountedAsync(AsyncJobs(plan, caller));
                pulled = () => source.Pulled;
                run = pool.RunAsync(source, token);
            }
            else
            {
                var source = Sources.Counted(SyncJobs(plan, caller));
                pulled = () => source.Pulled;
                run = pool.RunAsync(source, token);
            }

            CheckCallerContext(caller, insideJob: false, "as RunAsync returned");
            Task<int> executingAtExit = run.ReadWhenDone(() => probe.Executing);
            try
            {
                IReadOnlyList<JobResult<StressJob, int>> results = await run;
                return new RunReport(plan, await executingAtExit, pulled(), [.. results], Error: null, ConsumerLeft: false);
            }
            catch (WorkerPoolCanceledException<StressJob, int> canceled)
            {
                return new RunReport(plan, await executingAtExit, pulled(), [.. canceled.Results], canceled, ConsumerLeft: false);
            }
            catch (Exception exception)
            {
                return new RunReport(plan, await executingAtExit, pulled(), [], exception, ConsumerLeft: false);
            }
            finally
            {
                CheckCallerContext(caller, insideJob: false, "after awaiting RunAsync");
            }
        }

        private async Task<RunReport> StreamAsync(BoundedWorkerPool<StressJob, int> pool, RunPlan plan)
        {
            WorkProbe<StressJob> probe = _probes[plan.Id];
            Caller caller = _callers[plan.Id];
            CancellationToken token = _cancel[plan.Id].Token;

            // The stream is made under a decoy and enumerated under its caller: its jobs and its source must see the caller.
            Ambient.Value = StreamDecoy;
            Func<long> pulled;
            IAsyncEnumerable<JobResult<StressJob, int>> stream;
            if (plan.AsyncSource)
            {
                var source = Sources.CountedAsync(AsyncJobs(plan, caller));
                pulled = () => source.Pulled;
                stream = pool.StreamAsync(source, token);
            }
            else
            {
                var source = Sources.Counted(SyncJobs(plan, caller));
                pulled = () => source.Pulled;
                stream = pool.StreamAsync(source, token);
            }

            Ambient.Value = caller;
            using Activity activity = new Activity(caller.ToString()).Start();
            caller.Activity = activity;

            var yielded = new List<JobResult<StressJob, int>>();
            Exception? error = null;
            bool left = false;
            try
            {
                await foreach (JobResult<StressJob, int> result in stream)
                {
                    CheckCallerContext(caller, insideJob: false, "after a MoveNextAsync");
                    yielded.Add(result);
                    if (yielded.Count == plan.BreakAfter)
                    {
                        left = true;
                        break;
                    }

                    if (plan.SlowConsumer)
                    {
                        await Task.Yield();
                    }
                }
            }
            catch (Exception exception)
            {
                error = exception;
            }

            int executingAtExit = probe.Executing;
            CheckCallerContext(caller, insideJob: false, "after its stream ended");
            if (error is WorkerPoolCanceledException<StressJob, int> canceled)
            {
                yielded.AddRange(canceled.Results);
            }

            return new RunReport(plan, executingAtExit, pulled(), yielded, error, left);
        }

        /// <summary>Many concurrent SubmitAsync callers, one per job of the plan, all sharing the plan's token.</summary>
        private async Task<RunReport> SubmitAllAsync(BoundedWorkerPool<StressJob, int> pool, RunPlan plan)
        {
            CancellationToken token = _cancel[plan.Id].Token;
            var calls = new Task<Submission>[plan.Jobs.Length];
            for (int i = 0; i < calls.Length; i++)
            {
                calls[i] = SubmitOneAsync(pool, plan.Jobs[i], $"run {plan.Id} submission {i}", insideJob: false, token);
            }

            Submission[] submissions = await Task.WhenAll(calls);
            _tally.AddSubmissions(submissions.Length);
            return new RunReport(
                plan, submissions.Sum(s => s.ExecutingAtExit), submissions.Sum(s => s.Pulled), [], Error: null, ConsumerLeft: false, submissions);
        }

        /// <summary>One caller that submits one job, with its own context. Never throws: the submission's ending is its report.</summary>
        private async Task<Submission> SubmitOneAsync(BoundedWorkerPool<StressJob, int> pool, StressJob job, string name, bool insideJob, CancellationToken token)
        {
            var caller = new Caller(name);
            Ambient.Value = caller;
            using Activity activity = new Activity(name).Start();
            caller.Activity = activity;
            job = job with { Caller = caller };

            Task<int> submitted;
            try
            {
                submitted = pool.SubmitAsync(job, token).AsTask();
            }
            catch (Exception exception)
            {
                // Thrown at the call (a disposed pool): nothing was taken in.
                CheckCallerContext(caller, insideJob, "after SubmitAsync threw");
                return new Submission(job, Pulled: 0, ExecutingAtExit: 0, Value: null, exception, Canceled: false);
            }

            CheckCallerContext(caller, insideJob, "as SubmitAsync returned");
            Task<int> executingAtExit = submitted.ReadWhenDone(() => Volatile.Read(ref caller.Executing));
            int? value = null;
            Exception? error = null;
            try
            {
                value = await submitted;
            }
            catch (Exception exception)
            {
                error = exception;
            }

            CheckCallerContext(caller, insideJob, "after awaiting SubmitAsync");
            if (error is OperationCanceledException && !submitted.IsCanceled)
            {
                _tally.AddCanceledAsFault();
            }

            // A cancelled submission carries its one-job run's cancellation, which says whether the job was taken in; a
            // token cancelled before the run started gives a bare cancellation. Any other ending means the job was taken in.
            long pulled = !submitted.IsCanceled ? 1
                : error?.InnerException is WorkerPoolCanceledException<StressJob, int> run ? run.Results.Count
                : 0;
            return new Submission(job, pulled, await executingAtExit, value, error, submitted.IsCanceled);
        }

        /// <summary>
        /// A job's call on its own pool, for its children; returns whether the call ended cancelled. Whatever the call
        /// ends with is checked here (a wrong ending becomes a problem of the scenario) and counted for the audit.
        /// </summary>
        private async Task<bool> NestedAsync(StressJob parent, CancellationToken token)
        {
            _tally.AddNestedCall();
            string name = $"nested call of {parent.Run}/{parent.Index} at depth {parent.Depth}";
            StressJob[] children = parent.Children!;
            switch ((NestedCall)parent.Amount)
            {
                case NestedCall.Submit:
                {
                    var calls = new Task<Submission>[children.Length];
                    for (int c = 0; c < children.Length; c++)
                    {
                        calls[c] = SubmitOneAsync(Pool, children[c], $"{name}, submission {c}", insideJob: true, token);
                    }

                    Submission[] submissions = await Task.WhenAll(calls);
                    bool canceledAllowed = token.IsCancellationRequested || Volatile.Read(ref _disposeIssued);
                    foreach (Submission submission in submissions)
                    {
                        AddNested(submission.Pulled, submission.ExecutingAtExit);
                        _nestedLog.Enqueue(
                            $"{name}: {submission.Job}: pulled {submission.Pulled}, canceled {submission.Canceled}, " +
                            $"{submission.Error?.GetType().Name ?? "value"} ({submission.Error?.InnerException?.GetType().Name ?? "no inner"})");
                        if (!SubmissionFits(submission, canceledAllowed))
                        {
                            Problem($"{name}: {submission.Job} ended {submission.Value?.ToString(CultureInfo.InvariantCulture) ?? submission.Error?.ToString()}");
                        }
                    }

                    return submissions.Any(s => s.Canceled || s.Error is ObjectDisposedException);
                }

                case NestedCall.Run:
                    return await NestedRunAsync(name, children, stream: false, token);
                default:
                    return await NestedRunAsync(name, children, stream: true, token);
            }
        }

        /// <summary>A nested RunAsync or StreamAsync of <paramref name="children"/>, by a caller of its own, from inside a job.</summary>
        private async Task<bool> NestedRunAsync(string name, StressJob[] children, bool stream, CancellationToken token)
        {
            var caller = new Caller(name);
            Ambient.Value = caller;
            using Activity activity = new Activity(name).Start();
            caller.Activity = activity;
            var source = Sources.Counted(CheckedJobs(children, caller));
            var outcomes = new List<JobResult<StressJob, int>>();
            Exception? error = null;
            bool threwAtCall = false;
            int executingAtExit = 0;
            try
            {
                if (stream)
                {
                    try
                    {
                        await foreach (JobResult<StressJob, int> result in Pool.StreamAsync(source, token))
                        {
                            CheckCallerContext(caller, insideJob: true, "after a nested MoveNextAsync");
                            outcomes.Add(result);
                        }
                    }
                    finally
                    {
                        executingAtExit = Volatile.Read(ref caller.Executing);
                    }
                }
                else
                {
                    Task<IReadOnlyList<JobResult<StressJob, int>>> run;
                    try
                    {
                        run = Pool.RunAsync(source, token);
                    }
                    catch (Exception)
                    {
                        threwAtCall = true;
                        throw;
                    }

                    CheckCallerContext(caller, insideJob: true, "as a nested RunAsync returned");
                    Task<int> atExit = run.ReadWhenDone(() => Volatile.Read(ref caller.Executing));
                    try
                    {
                        outcomes.AddRange(await run);
                    }
                    finally
                    {
                        executingAtExit = await atExit;
                    }
                }
            }
            catch (Exception exception)
            {
                error = exception;
            }

            CheckCallerContext(caller, insideJob: true, "after its nested call");
            AddNested(source.Pulled, executingAtExit);
            _nestedLog.Enqueue($"{name}: pulled {source.Pulled}, {outcomes.Count} outcome(s), {error?.GetType().Name ?? "completed"}");

            bool canceledAllowed = token.IsCancellationRequested || Volatile.Read(ref _disposeIssued);
            bool canceled = false;
            bool outcomesComplete = error is null;
            switch (error)
            {
                case null:
                    break;
                case WorkerPoolCanceledException<StressJob, int> cancellation:
                    canceled = true;
                    outcomesComplete = true;
                    // From a stream: the outcomes it had not yielded yet.
                    outcomes.AddRange(cancellation.Results);

                    break;
                case OperationCanceledException:
                    // A token cancelled before the nested run started: nothing was taken in.
                    canceled = true;
                    break;
                case ObjectDisposedException when threwAtCall || stream:
                    // The pool was disposed before the nested run started.
                    canceled = true;
                    if (!Volatile.Read(ref _disposeIssued))
                    {
                        Problem($"{name}: the pool reported itself disposed although nobody disposed it");
                    }

                    break;
                case StressJobException or BrokenValueTaskException when _scenario.ErrorMode == ErrorMode.StopOnFirstError:
                    break;
                default:
                    Problem($"{name} ended with {error}");
                    break;
            }

            if (canceled && !canceledAllowed)
            {
                Problem($"{name} was cancelled although neither its job's token nor the pool's disposal was used: {error}");
            }

            foreach (JobResult<StressJob, int> result in outcomes)
            {
                if (result.Job != children[result.Index] with { Caller = caller })
                {
                    Problem($"{name} handed back {result.Job} at index {result.Index}");
                }
                else if (!OutcomeFits(result.Job, result.Status, result.Value, result.Error, canceledAllowed))
                {
                    Problem($"{name}: {result.Job} cannot end as {result}");
                }
            }

            if (outcomesComplete && outcomes.Count != source.Pulled)
            {
                Problem($"{name} pulled {source.Pulled} job(s) but handed back {outcomes.Count} outcome(s)");
            }

            return canceled;
        }

        private void AddNested(long pulled, int executingAtExit)
        {
            Interlocked.Add(ref _nestedPulled, pulled);
            Interlocked.Add(ref _nestedExecutingAtExit, executingAtExit);
        }

        private IEnumerable<StressJob> CheckedJobs(StressJob[] jobs, Caller caller)
        {
            for (int i = 0; i < jobs.Length; i++)
            {
                CheckSourceContext(caller, i);
                yield return jobs[i] with { Caller = caller };
            }
        }

        private IEnumerable<StressJob> SyncJobs(RunPlan plan, Caller caller)
        {
            for (int i = 0; i < plan.Jobs.Length; i++)
            {
                CheckSourceContext(caller, i);
                if (i == plan.SourceThrowsAfter)
                {
                    throw new StressSourceException(plan.Id);
                }

                yield return plan.Jobs[i] with { Caller = caller };
            }

            if (plan.SourceThrowsAfter == plan.Jobs.Length)
            {
                throw new StressSourceException(plan.Id);
            }
        }

        private async IAsyncEnumerable<StressJob> AsyncJobs(RunPlan plan, Caller caller, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            for (int i = 0; i < plan.Jobs.Length; i++)
            {
                if (i % 3 == 1)
                {
                    await Task.Yield();
                }

                CheckSourceContext(caller, i);
                cancellationToken.ThrowIfCancellationRequested();
                if (i == plan.SourceThrowsAfter)
                {
                    throw new StressSourceException(plan.Id);
                }

                yield return plan.Jobs[i] with { Caller = caller };
            }

            if (plan.SourceThrowsAfter == plan.Jobs.Length)
            {
                throw new StressSourceException(plan.Id);
            }
        }

        /// <summary>Checks that the run ended in a way its scenario allows, and turns it into the audit's terms.</summary>
        private RunExit Check(RunReport report)
        {
            RunPlan plan = report.Plan;
            string run = $"run {plan.Id}";
            bool canBeCanceled = Volatile.Read(ref _cancelIssued[plan.Id]) || Volatile.Read(ref _disposeIssued);
            if (report.Submissions is { } submissions)
            {
                _tally.Add(Ending.Submitted);
                foreach (Submission submission in submissions)
                {
                    SubmissionFits(submission, canBeCanceled).Should().BeTrue(
                        "{0} of {1} cannot end with value {2} and error {3}", submission.Job, run, submission.Value, submission.Error);
                }

                return RunExit.WithoutOutcomes(report.ExecutingAtExit, report.Pulled);
            }

            Ending ending = report switch
            {
                { ConsumerLeft: true } => Ending.ConsumerLeft,
                { Error: null } => Ending.Completed,
                { Error: WorkerPoolCanceledException<StressJob, int> } => Ending.Canceled,
                _ => Ending.RootCause,
            };
            _tally.Add(ending);

            report.Outcomes.Where(r => r.Job.Run != plan.Id || r.Job.Index != r.Index).Should().BeEmpty("{0} must hand back its own jobs, each at its own index", run);
            switch (ending)
            {
                case Ending.Completed:
                    report.Pulled.Should().Be(plan.Jobs.Length, "{0} completed, so it must have pulled its whole source", run);
                    foreach (JobResult<StressJob, int> result in report.Outcomes)
                    {
                        OutcomeFits(result.Job, result.Status, result.Value, result.Error, canBeCanceled).Should().BeTrue(
                            "job {0} ({1}) of a completed run cannot end as {2}", result.Index, result.Job.Behaviour, result);
                    }

                    if (_scenario.ErrorMode == ErrorMode.StopOnFirstError)
                    {
                        report.Outcomes.Should().NotContain(r => r.Status == JobStatus.Failed, "in StopOnFirstError a failure ends the run with that failure");
                    }

                    break;
                case Ending.Canceled:
                    canBeCanceled.Should().BeTrue("{0} was cancelled although neither its token nor the pool's disposal was used", run);
                    break;
                case Ending.RootCause:
                    bool expected = report.Error switch
                    {
                        StressJobException or BrokenValueTaskException => _scenario.ErrorMode == ErrorMode.StopOnFirstError,
                        StressSourceException => plan.SourceThrowsAfter >= 0,
                        _ => false,
                    };
                    expected.Should().BeTrue("{0} must not end with {1}", run, report.Error);
                    break;
                case Ending.ConsumerLeft:
                    plan.BreakAfter.Should().BePositive("{0}'s consumer left only if told to", run);
                    break;
                default:
                    throw new UnreachableException();
            }

            IEnumerable<long> indices = report.Outcomes.Select(r => r.Index);
            return ending is Ending.Completed or Ending.Canceled
                ? RunExit.WithOutcomes(report.ExecutingAtExit, report.Pulled, indices)
                : RunExit.WithoutOutcomes(report.ExecutingAtExit, report.Pulled, indices);
        }

        /// <summary>
        /// Whether an outcome follows from its job's behaviour. A cancellation that arrives as a run completes may still
        /// mark jobs cancelled; that is allowed only if the run's token or the pool was cancelled. A job whose value task
        /// cannot be inspected ends Failed with the exception its source threw, never Succeeded.
        /// </summary>
        private static bool OutcomeFits(StressJob job, JobStatus status, int value, Exception? error, bool canceledAllowed) =>
            (canceledAllowed && status == JobStatus.Canceled) || job.Behaviour switch
            {
                Behaviour.ThrowSync or Behaviour.ThrowAsync => status == JobStatus.Failed && error is StressJobException,
                Behaviour.StatusThrows or Behaviour.OnCompletedThrows => status == JobStatus.Failed && error is BrokenValueTaskException broken && broken.Job == job,
                Behaviour.WaitForCancellation or Behaviour.Nested => (status == JobStatus.Succeeded && value == job.Index) || status == JobStatus.TimedOut,
                _ => status == JobStatus.Succeeded && value == job.Index,
            };

        /// <summary>Whether a submission's ending follows from its job's behaviour, in the terms of <see cref="OutcomeFits"/>.</summary>
        /// <remarks>
        /// A cancellation counts by its exception, as SubmitAsync documents it, whatever the task's status: when the pool is
        /// disposed just as a job ends, the job's outcome can be Canceled in a one-job run that completed, and SubmitAsync
        /// then faults with that outcome's exception instead of ending Canceled. The tally counts those.
        /// </remarks>
        private bool SubmissionFits(Submission submission, bool canceledAllowed)
        {
            (JobStatus status, int value) = submission switch
            {
                { Value: int v } => (JobStatus.Succeeded, v),
                { Canceled: true } or { Error: OperationCanceledException } => (JobStatus.Canceled, 0),
                { Error: ObjectDisposedException } => (JobStatus.Canceled, 0),
                { Error: TimeoutException } => (JobStatus.TimedOut, 0),
                _ => (JobStatus.Failed, 0),
            };
            if (submission.Error is ObjectDisposedException && !Volatile.Read(ref _disposeIssued))
            {
                return false;
            }

            return OutcomeFits(submission.Job, status, value, submission.Error, canceledAllowed);
        }
    }

    /// <summary>
    /// A value task source that cannot be inspected: <c>GetStatus</c> throws (<see cref="Behaviour.StatusThrows"/>), or it
    /// reports Pending forever and <c>OnCompleted</c> throws (<see cref="Behaviour.OnCompletedThrows"/>). <c>GetResult</c>
    /// throws too, so that a pool that reads it anyway cannot make up a value.
    /// </summary>
    private sealed class BrokenValueTaskSource(StressJob job) : IValueTaskSource<int>
    {
        private readonly BrokenValueTaskException _error = new(job);

        public ValueTaskSourceStatus GetStatus(short token) =>
            job.Behaviour == Behaviour.StatusThrows ? throw _error : ValueTaskSourceStatus.Pending;

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) => throw _error;

        public int GetResult(short token) => throw _error;
    }

    /// <summary>A logger factory whose loggers throw from Log and BeginScope at every level, and from IsEnabled if asked.</summary>
    private sealed class ThrowingLoggerFactory(bool isEnabledThrows, Func<string, Exception> fault) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => new ThrowingLogger(isEnabledThrows, fault);

        public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

        public void Dispose()
        {
        }

        private sealed class ThrowingLogger(bool isEnabledThrows, Func<string, Exception> fault) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => throw fault("BeginScope");

            public bool IsEnabled(LogLevel logLevel) => isEnabledThrows ? throw fault("IsEnabled") : true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                throw fault($"Log at {logLevel}");
        }
    }

    /// <summary>Counts what the scenarios exercised, so that the report shows the mix actually ran.</summary>
    private sealed class Tally
    {
        private readonly int[] _endings = new int[Enum.GetValues<Ending>().Length];
        private readonly int[] _actions = new int[Enum.GetValues<MidRunAction>().Length];
        private int _submissions;
        private int _nestedCalls;
        private int _brokenValueTasks;
        private int _throwingLoggers;
        private int _throwingMeters;
        private int _canceledAsFault;

        public int Runs => _endings.Sum();

        public void Add(Ending ending) => Interlocked.Increment(ref _endings[(int)ending]);

        public void Add(MidRunAction action) => Interlocked.Increment(ref _actions[(int)action]);

        public void AddSubmissions(int count) => Interlocked.Add(ref _submissions, count);

        public void AddNestedCall() => Interlocked.Increment(ref _nestedCalls);

        public void AddBrokenValueTask() => Interlocked.Increment(ref _brokenValueTasks);

        public void AddCanceledAsFault() => Interlocked.Increment(ref _canceledAsFault);

        public void AddHostility(bool logger, bool meter)
        {
            Interlocked.Add(ref _throwingLoggers, logger ? 1 : 0);
            Interlocked.Add(ref _throwingMeters, meter ? 1 : 0);
        }

        public override string ToString() =>
            "Runs ended: " + string.Join(", ", Enum.GetValues<Ending>().Select(e => $"{e} {_endings[(int)e]}")) +
            ". Actions taken mid-run: " + string.Join(", ", new[] { MidRunAction.CancelAfterOutcomes, MidRunAction.DisposeAfterOutcomes }.Select(a => $"{a} {_actions[(int)a]}")) +
            $". Top-level submissions {_submissions}, nested calls {_nestedCalls}, submissions cancelled as a fault rather than Canceled {_canceledAsFault}, broken value tasks {_brokenValueTasks}, " +
            $"scenarios with a throwing logger {_throwingLoggers}, with a throwing meter listener {_throwingMeters}.";
    }
}
