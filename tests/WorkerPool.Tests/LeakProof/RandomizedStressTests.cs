using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using WorkerPool.Tests.Support;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace WorkerPool.Tests.LeakProof;

/// <summary>
/// Random scenarios, each built from an explicit seed: pool sizes, job counts, per-job behaviour, error mode, ordering,
/// RunAsync, StreamAsync or several runs at once, and an action in the middle of the run. Every run of every scenario
/// must pass the same three checks as the exit-path matrix (<see cref="ExitAudit"/>).
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
/// </remarks>
[Trait("Category", "Slow")]
public sealed class RandomizedStressTests(ITestOutputHelper output) : PoolTest
{
    public const string IterationsVariable = "WORKERPOOL_STRESS_ITERATIONS";
    public const string SeedVariable = "WORKERPOOL_STRESS_SEED";
    private const int DefaultIterations = 2_000;
    private const int DefaultFirstSeed = 20_000;

    /// <summary>A hang detector per scenario, not a synchroniser: a scenario normally takes a few milliseconds.</summary>
    private static readonly TimeSpan ScenarioHangLimit = TimeSpan.FromSeconds(30);

    private enum Behaviour
    {
        ReturnSync,
        YieldThenReturn,
        ThrowSync,
        ThrowAsync,
        WaitForCancellation,
        IgnoreTokenBriefly,
    }

    private enum RunKind
    {
        Run,
        Stream,
    }

    private enum Shape
    {
        OneRunAsync,
        OneStreamAsync,
        ConcurrentRuns,
    }

    private enum MidRunAction
    {
        None,
        CancelAfterOutcomes,
        DisposeAfterOutcomes,
        ConsumerBreaksAfterItems,
    }

    private enum Ending
    {
        Completed,
        Canceled,
        RootCause,
        ConsumerLeft,
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

    /// <summary>One job: which run it belongs to, its position, what it does, and how much of it (yields or milliseconds).</summary>
    private readonly record struct StressJob(int Run, int Index, Behaviour Behaviour, int Amount);

    private sealed class StressJobException(StressJob job) : Exception($"job {job.Run}/{job.Index} failed");

    private sealed class StressSourceException(int run) : Exception($"the source of run {run} failed");

    private sealed record RunPlan(int Id, RunKind Kind, bool AsyncSource, bool SlowConsumer, StressJob[] Jobs, int SourceThrowsAfter, int BreakAfter)
    {
        public override string ToString()
        {
            var behaviours = Jobs.GroupBy(job => job.Behaviour).OrderBy(g => g.Key).Select(g => $"{g.Key}={g.Count()}");
            string source = AsyncSource ? "async source" : "sync source";
            string throws = SourceThrowsAfter >= 0 ? $", source throws after {SourceThrowsAfter}" : string.Empty;
            string breaks = BreakAfter > 0 ? $", consumer breaks after {BreakAfter}" : string.Empty;
            string slow = SlowConsumer ? ", slow consumer" : string.Empty;
            return $"run {Id}: {Kind}, {Jobs.Length} jobs ({string.Join(' ', behaviours)}), {source}{throws}{breaks}{slow}";
        }
    }

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
        int Target)
    {
        public static Scenario Generate(int seed)
        {
            var random = new Random(seed);
            int maxWorkers = random.Next(1, 9);
            int queueCapacity = random.Next(1, 17);
            ErrorMode errorMode = random.Next(3) == 0 ? ErrorMode.StopOnFirstError : ErrorMode.Collect;
            bool preserveOrder = random.Next(2) == 0;
            TimeSpan jobTimeout = random.Next(4) == 0 ? TimeSpan.FromMilliseconds(random.Next(1, 4)) : Timeout.InfiniteTimeSpan;
            var shape = (Shape)random.Next(3);

            // Per-scenario rates, so that some scenarios have no failures, or no slow jobs, at all.
            double throwRate = Pick(random, 0, 0.01, 0.05, 0.2);
            double waitRate = Pick(random, 0, 0.02, 0.1);
            double ignoreRate = Pick(random, 0, 0.02, 0.1);

            int runCount = shape == Shape.ConcurrentRuns ? random.Next(2, 5) : 1;
            int totalJobs = random.Next(0, 201);
            var runs = new RunPlan[runCount];
            for (int r = 0; r < runCount; r++)
            {
                RunKind kind = shape switch
                {
                    Shape.OneRunAsync => RunKind.Run,
                    Shape.OneStreamAsync => RunKind.Stream,
                    _ => (RunKind)random.Next(2),
                };
                int count = runCount == 1 ? totalJobs : random.Next(0, (totalJobs / runCount) + 1);
                var jobs = new StressJob[count];
                for (int i = 0; i < count; i++)
                {
                    jobs[i] = NewJob(random, r, i, throwRate, waitRate, ignoreRate);
                }

                int sourceThrowsAfter = random.Next(12) == 0 ? random.Next(0, count + 1) : -1;
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

            return new Scenario(seed, maxWorkers, queueCapacity, errorMode, preserveOrder, jobTimeout, shape, runs, action, k, target);
        }

        private static StressJob NewJob(Random random, int run, int index, double throwRate, double waitRate, double ignoreRate)
        {
            double roll = random.NextDouble();
            Behaviour behaviour =
                roll < throwRate ? (random.Next(2) == 0 ? Behaviour.ThrowSync : Behaviour.ThrowAsync)
                : roll < throwRate + waitRate ? Behaviour.WaitForCancellation
                : roll < throwRate + waitRate + ignoreRate ? Behaviour.IgnoreTokenBriefly
                : random.Next(2) == 0 ? Behaviour.ReturnSync
                : Behaviour.YieldThenReturn;
            int amount = behaviour switch
            {
                Behaviour.WaitForCancellation => random.Next(1, 4),
                Behaviour.IgnoreTokenBriefly => random.Next(0, 2),
                _ => random.Next(1, 4),
            };
            return new StressJob(run, index, behaviour, amount);
        }

        private static double Pick(Random random, params double[] choices) => choices[random.Next(choices.Length)];

        public override string ToString()
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"seed {Seed}: MaxWorkers={MaxWorkers} QueueCapacity={QueueCapacity} ErrorMode={ErrorMode} PreserveOrder={PreserveOrder} ");
            text.Append(CultureInfo.InvariantCulture, $"JobTimeout={(JobTimeout == Timeout.InfiniteTimeSpan ? "none" : JobTimeout.TotalMilliseconds + " ms")} ");
            text.Append(CultureInfo.InvariantCulture, $"{Shape}, action {Action} (k={K}, target run {Target})");
            foreach (RunPlan run in Runs)
            {
                text.AppendLine().Append("  ").Append(run);
            }

            return text.ToString();
        }
    }

    /// <summary>How one run ended, as its caller saw it.</summary>
    private sealed record RunReport(RunPlan Plan, int ExecutingAtExit, long Pulled, List<JobResult<StressJob, int>> Outcomes, Exception? Error, bool ConsumerLeft);

    /// <summary>One scenario, executed on a pool of its own.</summary>
    private sealed class ScenarioRun
    {
        private readonly Scenario _scenario;
        private readonly Tally _tally;
        private readonly WorkProbe<StressJob>[] _probes;
        private readonly Func<StressJob, CancellationToken, ValueTask<int>>[] _bodies;
        private readonly CancellationTokenSource[] _cancel;
        private readonly bool[] _cancelIssued;
        private readonly TaskCompletionSource _kWorkCallsEnded = TestExtensions.NewGate();
        private bool _disposeIssued;
        private int _workCallsEnded;

        public ScenarioRun(Scenario scenario, Tally tally)
        {
            _scenario = scenario;
            _tally = tally;
            _probes = scenario.Runs.Select(_ => new WorkProbe<StressJob>()).ToArray();
            _bodies = _probes.Select(probe => probe.Wrap<int>(BodyAsync)).ToArray();
            _cancel = scenario.Runs.Select(_ => new CancellationTokenSource()).ToArray();
            _cancelIssued = new bool[scenario.Runs.Length];
            if (scenario.K == 0)
            {
                _kWorkCallsEnded.TrySetResult();
            }
        }

        public async Task ExecuteAsync()
        {
            var pool = new BoundedWorkerPool<StressJob, int>(Work, new WorkerPoolOptions
            {
                MaxWorkers = _scenario.MaxWorkers,
                QueueCapacity = _scenario.QueueCapacity,
                ErrorMode = _scenario.ErrorMode,
                PreserveOrder = _scenario.PreserveOrder,
                JobTimeout = _scenario.JobTimeout,
                Name = $"stress/{_scenario.Seed}",
            });
            try
            {
                var audit = ExitAudit.Start(pool);

                // Each run starts synchronously here (a stream at its first MoveNextAsync), before any action is taken.
                Task<RunReport>[] runs = _scenario.Runs.Select(plan => plan.Kind == RunKind.Run ? RunAsync(pool, plan) : StreamAsync(pool, plan)).ToArray();
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
                await audit.VerifyAsync($"seed {_scenario.Seed}", exits);
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

        private ValueTask<int> Work(StressJob job, CancellationToken token)
        {
            if (job.Behaviour == Behaviour.ThrowSync)
            {
                WorkCallEnded();
                throw new StressJobException(job);
            }

            return _bodies[job.Run](job, token);
        }

        private async ValueTask<int> BodyAsync(StressJob job, CancellationToken token)
        {
            try
            {
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
                    default:
                        throw new UnreachableException();
                }
            }
            finally
            {
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

        private async Task<RunReport> RunAsync(BoundedWorkerPool<StressJob, int> pool, RunPlan plan)
        {
            WorkProbe<StressJob> probe = _probes[plan.Id];
            CancellationToken token = _cancel[plan.Id].Token;
            Func<long> pulled;
            Task<IReadOnlyList<JobResult<StressJob, int>>> run;
            if (plan.AsyncSource)
            {
                var source = Sources.CountedAsync(AsyncJobs(plan));
                pulled = () => source.Pulled;
                run = pool.RunAsync(source, token);
            }
            else
            {
                var source = Sources.Counted(SyncJobs(plan));
                pulled = () => source.Pulled;
                run = pool.RunAsync(source, token);
            }

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
        }

        private async Task<RunReport> StreamAsync(BoundedWorkerPool<StressJob, int> pool, RunPlan plan)
        {
            WorkProbe<StressJob> probe = _probes[plan.Id];
            CancellationToken token = _cancel[plan.Id].Token;
            Func<long> pulled;
            IAsyncEnumerable<JobResult<StressJob, int>> stream;
            if (plan.AsyncSource)
            {
                var source = Sources.CountedAsync(AsyncJobs(plan));
                pulled = () => source.Pulled;
                stream = pool.StreamAsync(source, token);
            }
            else
            {
                var source = Sources.Counted(SyncJobs(plan));
                pulled = () => source.Pulled;
                stream = pool.StreamAsync(source, token);
            }

            var yielded = new List<JobResult<StressJob, int>>();
            Exception? error = null;
            bool left = false;
            try
            {
                await foreach (JobResult<StressJob, int> result in stream)
                {
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
            if (error is WorkerPoolCanceledException<StressJob, int> canceled)
            {
                yielded.AddRange(canceled.Results);
            }

            return new RunReport(plan, executingAtExit, pulled(), yielded, error, left);
        }

        private static IEnumerable<StressJob> SyncJobs(RunPlan plan)
        {
            for (int i = 0; i < plan.Jobs.Length; i++)
            {
                if (i == plan.SourceThrowsAfter)
                {
                    throw new StressSourceException(plan.Id);
                }

                yield return plan.Jobs[i];
            }

            if (plan.SourceThrowsAfter == plan.Jobs.Length)
            {
                throw new StressSourceException(plan.Id);
            }
        }

        private static async IAsyncEnumerable<StressJob> AsyncJobs(RunPlan plan, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            for (int i = 0; i < plan.Jobs.Length; i++)
            {
                if (i % 3 == 1)
                {
                    await Task.Yield();
                }

                cancellationToken.ThrowIfCancellationRequested();
                if (i == plan.SourceThrowsAfter)
                {
                    throw new StressSourceException(plan.Id);
                }

                yield return plan.Jobs[i];
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
                    CheckStatuses(report, canBeCanceled);
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
                        StressJobException => _scenario.ErrorMode == ErrorMode.StopOnFirstError,
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
        /// In a run that completed, each outcome's status follows from its job's behaviour. A cancellation that arrives as
        /// the run completes may still mark jobs cancelled; that is allowed only if the run's token or the pool was cancelled.
        /// </summary>
        private static void CheckStatuses(RunReport report, bool canceledAllowed)
        {
            foreach (JobResult<StressJob, int> result in report.Outcomes)
            {
                bool consistent = (canceledAllowed && result.Status == JobStatus.Canceled) || result.Job.Behaviour switch
                {
                    Behaviour.ThrowSync or Behaviour.ThrowAsync => result.Status == JobStatus.Failed && result.Error is StressJobException,
                    Behaviour.WaitForCancellation => (result.IsSuccess && result.Value == result.Index) || result.Status == JobStatus.TimedOut,
                    _ => result.IsSuccess && result.Value == result.Index,
                };
                consistent.Should().BeTrue("job {0} ({1}) of a completed run cannot end as {2}", result.Index, result.Job.Behaviour, result);
            }
        }
    }

    /// <summary>Counts what the scenarios exercised, so that the report shows the mix actually ran.</summary>
    private sealed class Tally
    {
        private readonly int[] _endings = new int[Enum.GetValues<Ending>().Length];
        private readonly int[] _actions = new int[Enum.GetValues<MidRunAction>().Length];

        public int Runs => _endings.Sum();

        public void Add(Ending ending) => Interlocked.Increment(ref _endings[(int)ending]);

        public void Add(MidRunAction action) => Interlocked.Increment(ref _actions[(int)action]);

        public override string ToString() =>
            "Runs ended: " + string.Join(", ", Enum.GetValues<Ending>().Select(e => $"{e} {_endings[(int)e]}")) +
            ". Actions taken mid-run: " + string.Join(", ", new[] { MidRunAction.CancelAfterOutcomes, MidRunAction.DisposeAfterOutcomes }.Select(a => $"{a} {_actions[(int)a]}")) + ".";
    }
}
