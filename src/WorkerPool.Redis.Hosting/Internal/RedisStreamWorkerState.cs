using System.Diagnostics;

namespace WorkerPool.Redis.Hosting.Internal;

/// <summary>
/// The life of one hosted worker, registered once per name as a keyed singleton: written by its hosted service, read by
/// its health check. Every change replaces one immutable <see cref="Snapshot"/>, so a reader always sees a status with
/// its own error and times. Thread-safe.
/// </summary>
/// <remarks>
/// The transitions: <see cref="RedisStreamWorkerStatus.NotStarted"/> → <see cref="RedisStreamWorkerStatus.Running"/> ⇄
/// <see cref="RedisStreamWorkerStatus.WaitingToRestart"/>, and from any of these to
/// <see cref="RedisStreamWorkerStatus.Stopped"/> or <see cref="RedisStreamWorkerStatus.Failed"/>, which are final.
/// </remarks>
internal sealed class RedisStreamWorkerState(string name)
{
    private Snapshot _current = new(RedisStreamWorkerStatus.NotStarted, Error: null, RestartAt: null, Restarts: 0);
    private Func<RedisStreamStatistics>? _statistics;
    private int _maxOutstanding;

    /// <summary>The name the worker was registered under.</summary>
    public string Name { get; } = name;

    /// <summary>The status, with the error that caused it and, while waiting, when the worker runs again.</summary>
    public Snapshot Current => Volatile.Read(ref _current);

    /// <summary>The most messages the worker holds at once, once it has started; 0 before.</summary>
    public int MaxOutstanding => Volatile.Read(ref _maxOutstanding);

    /// <summary>The worker's counters, once it has started.</summary>
    public RedisStreamStatistics? GetStatistics() => Volatile.Read(ref _statistics)?.Invoke();

    /// <summary>Called once, when the host starts the worker: from now on the state reports its counters.</summary>
    public void Started(Func<RedisStreamStatistics> statistics, int maxOutstanding)
    {
        Volatile.Write(ref _maxOutstanding, maxOutstanding);
        Volatile.Write(ref _statistics, statistics);
    }

    /// <summary>A run starts, the first one or one after a wait.</summary>
    public void Running()
    {
        Snapshot before = Current;
        AssertLive(before);
        int restarts = before.Status == RedisStreamWorkerStatus.WaitingToRestart ? before.Restarts + 1 : before.Restarts;
        Volatile.Write(ref _current, new Snapshot(RedisStreamWorkerStatus.Running, Error: null, RestartAt: null, restarts));
    }

    /// <summary>A run ended because Redis was unreachable; the next one starts at <paramref name="restartAt"/>.</summary>
    public void WaitingToRestart(Exception error, DateTimeOffset restartAt)
    {
        Snapshot before = Current;
        Debug.Assert(before.Status == RedisStreamWorkerStatus.Running, "Only a run can end.");
        Volatile.Write(ref _current, new Snapshot(RedisStreamWorkerStatus.WaitingToRestart, error, restartAt, before.Restarts));
    }

    /// <summary>The host stopped the worker.</summary>
    public void Stopped() => End(RedisStreamWorkerStatus.Stopped, error: null);

    /// <summary>A run ended on an error the worker cannot recover from.</summary>
    public void Failed(Exception error) => End(RedisStreamWorkerStatus.Failed, error);

    private void End(RedisStreamWorkerStatus status, Exception? error)
    {
        Snapshot before = Current;
        AssertLive(before);
        Volatile.Write(ref _current, new Snapshot(status, error, RestartAt: null, before.Restarts));
    }

    [Conditional("DEBUG")]
    private static void AssertLive(Snapshot snapshot) =>
        Debug.Assert(
            snapshot.Status is not (RedisStreamWorkerStatus.Stopped or RedisStreamWorkerStatus.Failed),
            "A worker that stopped or failed does not run again: only its hosted service writes its state, once per step.");

    /// <summary>One status of the worker, with what goes with it.</summary>
    /// <param name="Status">The status.</param>
    /// <param name="Error">What ended the last run, while waiting to restart or once failed.</param>
    /// <param name="RestartAt">When the worker runs again, while it waits to.</param>
    /// <param name="Restarts">How many times the worker ran again after Redis was unreachable.</param>
    internal sealed record Snapshot(RedisStreamWorkerStatus Status, Exception? Error, DateTimeOffset? RestartAt, int Restarts);
}
