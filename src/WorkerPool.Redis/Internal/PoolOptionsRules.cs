namespace WorkerPool.Redis.Internal;

/// <summary>
/// What a Redis stream worker needs of its pool's options, beyond the pool's own rules (which the pool checks when a run
/// builds it): the error mode that settles failures, and the two bounds that make the worker's own bound.
/// </summary>
internal static class PoolOptionsRules
{
    /// <summary>Checks <paramref name="poolOptions"/>; the exceptions name the option and its value, and the parameter <c>poolOptions</c>.</summary>
    /// <exception cref="ArgumentException"><see cref="WorkerPoolOptions.ErrorMode"/> is not <see cref="ErrorMode.Collect"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="WorkerPoolOptions.MaxWorkers"/> or <see cref="WorkerPoolOptions.QueueCapacity"/> is below 1.</exception>
    public static void Check(WorkerPoolOptions poolOptions)
    {
        if (poolOptions.ErrorMode != ErrorMode.Collect)
        {
            throw new ArgumentException($"{nameof(WorkerPoolOptions)}.{nameof(WorkerPoolOptions.ErrorMode)} must be {nameof(ErrorMode.Collect)} for a Redis stream worker, but was {poolOptions.ErrorMode}: a failed job is retried or dead-lettered, never a reason to stop.", nameof(poolOptions));
        }

        // The bound depends on these two; the pool checks the rest of its options when RunAsync builds it.
        if (poolOptions.MaxWorkers < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(poolOptions), poolOptions.MaxWorkers, $"{nameof(WorkerPoolOptions)}.{nameof(WorkerPoolOptions.MaxWorkers)} must be at least 1, but was {poolOptions.MaxWorkers}.");
        }

        if (poolOptions.QueueCapacity < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(poolOptions), poolOptions.QueueCapacity, $"{nameof(WorkerPoolOptions)}.{nameof(WorkerPoolOptions.QueueCapacity)} must be at least 1, but was {poolOptions.QueueCapacity}.");
        }
    }
}
