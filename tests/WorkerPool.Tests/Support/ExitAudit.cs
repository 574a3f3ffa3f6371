using WorkerPool.Testing;

namespace WorkerPool.Tests.Support;

/// <summary>
/// The three checks every way out of a run must pass, in one place:
/// <list type="bullet">
/// <item>(a) no <c>work</c> call of the run was executing when its caller regained control;</item>
/// <item>(b) no worker of the pool is left alive: <see cref="WorkerPoolLeakCheck.VerifyNoneAsync"/>, scoped to the pool's name;</item>
/// <item>(c) every job pulled from the source is accounted for exactly once: by the outcomes handed back when the
/// documented behaviour hands them all back, and always by the pool's counters, whose sum must grow by exactly the
/// number of jobs pulled.</item>
/// </list>
/// </summary>
/// <remarks>Start the audit before the runs start, on a pool of its own with a unique name.</remarks>
internal sealed class ExitAudit
{
    /// <summary>
    /// How long the leak check may wait for workers on their way out. A correct pool retires its workers moments after
    /// a run ends; the generous limit only keeps a loaded machine from failing a correct pool.
    /// </summary>
    public static readonly TimeSpan LeakCheckTimeout = TimeSpan.FromSeconds(5);

    private readonly string _poolName;
    private readonly Func<WorkerPoolStatistics> _statistics;
    private readonly Func<Task> _whenNoWorkers;
    private readonly long _endedBefore;

    private ExitAudit(string poolName, Func<WorkerPoolStatistics> statistics, Func<Task> whenNoWorkers)
    {
        _poolName = poolName;
        _statistics = statistics;
        _whenNoWorkers = whenNoWorkers;
        _endedBefore = Ended(statistics());
    }

    public static ExitAudit Start<TJob, TResult>(BoundedWorkerPool<TJob, TResult> pool) =>
        new(pool.Name, pool.GetStatistics, pool.WhenNoWorkersAsync);

    /// <summary>Jobs that ended, in any way, according to the pool's counters.</summary>
    public static long Ended(WorkerPoolStatistics statistics) =>
        statistics.Succeeded + statistics.Failed + statistics.TimedOut + statistics.Canceled;

    /// <summary>Checks (a), (b) and (c) for one run whose every outcome was handed back.</summary>
    public Task VerifyAsync(int executingAtExit, long pulled, IEnumerable<long> outcomeIndices) =>
        VerifyAsync(context: null, RunExit.WithOutcomes(executingAtExit, pulled, outcomeIndices));

    /// <summary>
    /// Checks (a), (b) and (c) for one run whose documented behaviour drops outcomes (a root cause thrown without a list,
    /// a stream consumer that left early); <paramref name="seenIndices"/> are the outcomes that were handed back.
    /// </summary>
    public Task VerifyOutcomesDroppedAsync(int executingAtExit, long pulled, IEnumerable<long>? seenIndices = null) =>
        VerifyAsync(context: null, RunExit.WithoutOutcomes(executingAtExit, pulled, seenIndices));

    /// <summary>Checks (a), (b) and (c) for every run on the pool since the audit started.</summary>
    /// <param name="context">Added to every failure message, for example the seed of a random scenario.</param>
    /// <param name="runs">One entry per run.</param>
    public async Task VerifyAsync(string? context, params RunExit[] runs)
    {
        string where = context is null ? string.Empty : $" [{context}]";

        // (b) Wait on the pool's own event first, so that the leak check normally passes on its first look; a worker
        // that never ends makes the wait time out, and the leak check then names it.
        await LeakCheckAsync();

        for (int i = 0; i < runs.Length; i++)
        {
            RunExit run = runs[i];
            string which = $"run {i}{where}";

            // (a)
            run.ExecutingAtExit.Should().Be(0, "no work call of {0} may execute once its caller has regained control", which);

            // (c), from the outcomes handed back.
            if (run.Outcomes is { } outcomes)
            {
                outcomes.Order().Should().Equal(
                    Range(run.Pulled),
                    "{0} pulled {1} job(s) and must hand back exactly one outcome for each", which, run.Pulled);
            }
            else if (run.Seen is { } seen)
            {
                seen.Should().OnlyHaveUniqueItems("{0} must not hand back an outcome twice", which);
                seen.Where(index => index < 0 || index >= run.Pulled).Should().BeEmpty("{0} pulled only {1} job(s)", which, run.Pulled);
            }
        }

        // (c), from the counters: each pulled job ended exactly once, however the run ended.
        long pulled = runs.Sum(run => run.Pulled);
        long ended = Ended(_statistics()) - _endedBefore;
        ended.Should().Be(pulled, "the runs{0} pulled {1} job(s) and each must end exactly once", where, pulled);
    }

    /// <summary>
    /// For a run that ended with jobs still running past a finite ShutdownTimeout, once those jobs were released:
    /// waits for the pool to let go of them, then checks (a) now, (b) and (c).
    /// </summary>
    public async Task VerifyAfterReleaseAsync(Func<int> executingNow, long pulled)
    {
        await LeakCheckAsync();
        executingNow().Should().Be(0, "the released jobs have returned and their workers have ended");
        (Ended(_statistics()) - _endedBefore).Should().Be(pulled, "each pulled job must end exactly once, the released ones too");
    }

    private async Task LeakCheckAsync()
    {
        Task waited = _whenNoWorkers().WaitAsync(LeakCheckTimeout);
        await waited.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _ = waited.Exception;
        await WorkerPoolLeakCheck.VerifyNoneAsync(_poolName, LeakCheckTimeout);
    }

    private static IEnumerable<long> Range(long count)
    {
        for (long i = 0; i < count; i++)
        {
            yield return i;
        }
    }
}

/// <summary>What one run looked like when its caller regained control.</summary>
/// <param name="ExecutingAtExit">The run's work calls executing at that moment.</param>
/// <param name="Pulled">The jobs the run pulled from its source.</param>
/// <param name="Outcomes">Indices of every outcome handed back, when the documented behaviour hands them all back; otherwise null.</param>
/// <param name="Seen">When outcomes were dropped: the indices of those that were handed back, if any.</param>
internal sealed record RunExit(int ExecutingAtExit, long Pulled, IReadOnlyCollection<long>? Outcomes, IReadOnlyCollection<long>? Seen)
{
    public static RunExit WithOutcomes(int executingAtExit, long pulled, IEnumerable<long> outcomeIndices) =>
        new(executingAtExit, pulled, outcomeIndices.ToArray(), Seen: null);

    public static RunExit WithoutOutcomes(int executingAtExit, long pulled, IEnumerable<long>? seenIndices = null) =>
        new(executingAtExit, pulled, Outcomes: null, seenIndices?.ToArray());
}
