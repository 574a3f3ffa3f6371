namespace WorkerPool.Tests.SharedPool;

/// <summary>The three ways a caller hands jobs to a pool, for tests that must hold for each of them.</summary>
public enum PoolCall
{
    /// <summary><c>RunAsync</c>, outcomes collected in input order.</summary>
    RunAsync,

    /// <summary><c>StreamAsync</c>, enumerated to the end.</summary>
    StreamAsync,

    /// <summary>One <c>SubmitAsync</c> per job, all in flight at once.</summary>
    SubmitAsync,
}
