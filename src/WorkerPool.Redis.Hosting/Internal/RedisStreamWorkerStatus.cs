namespace WorkerPool.Redis.Hosting.Internal;

/// <summary>Where a hosted Redis stream worker is in its life; see <see cref="RedisStreamWorkerState"/>.</summary>
internal enum RedisStreamWorkerStatus
{
    /// <summary>The host has not started the worker yet.</summary>
    NotStarted,

    /// <summary>A run is in progress: the worker reads, runs and settles messages, retrying Redis commands that fail.</summary>
    Running,

    /// <summary>A run ended because Redis stayed unreachable; the worker runs again after the restart delay.</summary>
    WaitingToRestart,

    /// <summary>The host stopped the worker.</summary>
    Stopped,

    /// <summary>A run ended on an error the worker cannot recover from; it does not run again.</summary>
    Failed,
}
