namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>
/// The pool's own validation rules, as the pool's constructor applies them, for use before a pool is built. A copy of
/// the internal <c>WorkerPoolOptions.ValidateAndClone</c> until the core exposes them as <c>WorkerPoolOptions.Validate()</c>.
/// </summary>
internal static class WorkerPoolOptionsRules
{
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <exception cref="ArgumentOutOfRangeException">A numeric or time setting is out of range.</exception>
    /// <exception cref="ArgumentException"><see cref="WorkerPoolOptions.Name"/> is null or white space.</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2208:Instantiate argument exceptions correctly", Justification = "As in the pool's constructor, the exception names the option, not this method's parameter.")]
    public static void Validate(WorkerPoolOptions options)
    {
        if (options.MaxWorkers < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options.MaxWorkers), options.MaxWorkers, $"{nameof(WorkerPoolOptions)}.{nameof(options.MaxWorkers)} must be at least 1, but was {options.MaxWorkers}.");
        }

        if (options.QueueCapacity < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options.QueueCapacity), options.QueueCapacity, $"{nameof(WorkerPoolOptions)}.{nameof(options.QueueCapacity)} must be at least 1, but was {options.QueueCapacity}.");
        }

        if (options.JobTimeout != Timeout.InfiniteTimeSpan && (options.JobTimeout <= TimeSpan.Zero || options.JobTimeout > MaxTimeout))
        {
            throw new ArgumentOutOfRangeException(nameof(options.JobTimeout), options.JobTimeout, $"{nameof(WorkerPoolOptions)}.{nameof(options.JobTimeout)} must be positive and at most {MaxTimeout}, or Timeout.InfiniteTimeSpan, but was {options.JobTimeout}.");
        }

        if (options.ShutdownTimeout != Timeout.InfiniteTimeSpan && (options.ShutdownTimeout < TimeSpan.Zero || options.ShutdownTimeout > MaxTimeout))
        {
            throw new ArgumentOutOfRangeException(nameof(options.ShutdownTimeout), options.ShutdownTimeout, $"{nameof(WorkerPoolOptions)}.{nameof(options.ShutdownTimeout)} must be zero or positive and at most {MaxTimeout}, or Timeout.InfiniteTimeSpan, but was {options.ShutdownTimeout}.");
        }

        if (options.ErrorMode is not (ErrorMode.Collect or ErrorMode.StopOnFirstError))
        {
            throw new ArgumentOutOfRangeException(nameof(options.ErrorMode), options.ErrorMode, $"{nameof(WorkerPoolOptions)}.{nameof(options.ErrorMode)} has the undefined value {(int)options.ErrorMode}.");
        }

        if (string.IsNullOrWhiteSpace(options.Name))
        {
            throw new ArgumentException($"{nameof(WorkerPoolOptions)}.{nameof(options.Name)} must not be null, empty or white space.", nameof(options.Name));
        }
    }
}
