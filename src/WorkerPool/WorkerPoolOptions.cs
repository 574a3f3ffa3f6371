namespace WorkerPool;

/// <summary>
/// Settings for a <see cref="BoundedWorkerPool{TJob, TResult}"/>.
/// </summary>
/// <remarks>
/// The pool validates these settings and takes a copy of them when it is built, so changing an instance
/// afterwards has no effect on a pool already built from it. The type itself is not thread-safe: set it up on
/// one thread, then hand it to the pool.
/// </remarks>
public sealed class WorkerPoolOptions
{
    /// <summary>The longest finite timeout the pool accepts: the limit of a timer's due time (<see cref="ITimer.Change(TimeSpan, TimeSpan)"/>).</summary>
    internal static readonly TimeSpan MaxTimeout = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>
    /// Gets or sets the most jobs that execute at once, and the most worker tasks that exist at once,
    /// across every run that shares the pool.
    /// </summary>
    /// <value>
    /// At least 1, up to <see cref="int.MaxValue"/>: the pool holds memory for the workers it has started, not for the
    /// bound. The default is <see cref="Environment.ProcessorCount"/>.
    /// </value>
    public int MaxWorkers { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// Gets or sets the most jobs that wait for a worker, across every run that shares the pool.
    /// A producer that finds the queue full waits, and that wait observes the run's cancellation.
    /// </summary>
    /// <value>At least 1. The default is 1024.</value>
    public int QueueCapacity { get; set; } = 1024;

    /// <summary>
    /// Gets or sets how long one job may run, on a timer of <see cref="TimeProvider"/>. When it elapses, the job's token
    /// is cancelled. A job that then ends with an <see cref="OperationCanceledException"/> ends with
    /// <see cref="JobStatus.TimedOut"/> and a <see cref="TimeoutException"/> around it, and the run goes on, in either
    /// <see cref="WorkerPool.ErrorMode"/>. A job that returns a value anyway succeeds, and one that throws an exception
    /// of its own fails with it, as any job does.
    /// </summary>
    /// <value>A positive time, or <see cref="Timeout.InfiniteTimeSpan"/> for no limit. The default is <see cref="Timeout.InfiniteTimeSpan"/>.</value>
    public TimeSpan JobTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// Gets or sets what a run does when one of its jobs fails.
    /// </summary>
    /// <value>The default is <see cref="ErrorMode.Collect"/>.</value>
    public ErrorMode ErrorMode { get; set; } = ErrorMode.Collect;

    /// <summary>
    /// Gets or sets whether <c>StreamAsync</c> yields results in input order rather than completion order.
    /// <c>RunAsync</c> always returns results in input order.
    /// </summary>
    /// <value>The default is <see langword="false"/>: completion order.</value>
    public bool PreserveOrder { get; set; }

    /// <summary>
    /// Gets or sets the most jobs of one run that a worker takes from the queue at once. Above 1, a worker whose last job
    /// completed synchronously within 20 microseconds takes up to this many of the run's jobs next in line (at most a
    /// quarter of the jobs queued, so that other workers find their share) under one lock, and runs them one after the
    /// other. That lowers the cost per job of trivial jobs. The batch's jobs hold their queue room until the worker comes
    /// back to the queue, at the latest before it waits for a job. A job that does not complete synchronously, or takes
    /// longer, gives the rest back to the queue before the worker waits or goes on, and an idle worker takes jobs from
    /// another worker's batch rather than retire.
    /// </summary>
    /// <value>From 1 to 64. The default is 1: jobs start in queue order, one at a time.</value>
    /// <remarks>
    /// Above 1, jobs may start out of queue order across workers: a job in one worker's batch waits for that worker's
    /// current job, while another worker starts later jobs. A job that blocks synchronously until a later job of the same
    /// pool has started can then wait for good, if every worker is blocked the same way while that job sits in a batch.
    /// Leave this at 1 for jobs that wait for each other.
    /// </remarks>
    public int WorkerBatchSize { get; set; } = 1;

    /// <summary>The most <see cref="WorkerBatchSize"/> accepted.</summary>
    internal const int MaxWorkerBatchSize = 64;

    /// <summary>
    /// Gets or sets how long a run that is ending, a drain, or a pool that is being disposed, waits for jobs that ignore
    /// their cancellation token, on a timer of <see cref="TimeProvider"/>. When it elapses, the run or the drain throws a
    /// <see cref="WorkerPoolShutdownTimeoutException"/> naming those jobs, and they are logged at Error level (the
    /// disposal only logs them: it never throws). Jobs still running stay counted in
    /// <see cref="WorkerPoolStatistics.ActiveWorkers"/> until they return. If neither a job nor a job source holds the
    /// work when it elapses, but something outside the jobs does (most often a worker about to leave, or a logger or
    /// metrics listener it called), the pool gives the work up to 200 ms more, on the system clock, before it reports the
    /// timeout.
    /// </summary>
    /// <value>Zero or a positive time, or <see cref="Timeout.InfiniteTimeSpan"/> to wait as long as it takes. The default is <see cref="Timeout.InfiniteTimeSpan"/>.</value>
    public TimeSpan ShutdownTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// Gets or sets the source of time for the pool. Its timers measure <see cref="JobTimeout"/> and
    /// <see cref="ShutdownTimeout"/>; its timestamps measure <see cref="JobResult{TJob, TResult}.Duration"/>,
    /// <see cref="RunningJobInfo.Elapsed"/>, <see cref="LiveWorkerInfo.Age"/>, the <c>workerpool.job.duration</c> metric
    /// and the times in log messages. Tests set a fake one (such as <c>FakeTimeProvider</c>) to move time themselves.
    /// </summary>
    /// <value>Not <see langword="null"/>. The default is <see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Gets or sets the pool's name, used in log messages, exceptions and diagnostics.
    /// </summary>
    /// <value>
    /// A name that is not empty or white space, or <see langword="null"/> for a name unique in the process,
    /// <c>WorkerPool-</c><em>n</em>, so that metric tags and diagnostics of two unnamed pools never collide. The default is
    /// <see langword="null"/>.
    /// </value>
    public string? Name { get; set; }

    /// <summary>
    /// Gets or sets how a job is described in exception messages, in <see cref="RunningJobInfo.ToString"/> and
    /// <see cref="LiveWorkerInfo.ToString"/>. Jobs often carry personal or secret data, so by default a job is named only by
    /// its run and its index; set this to opt in to text of your choosing.
    /// </summary>
    /// <value>
    /// A function from a job to its description, or <see langword="null"/> to describe jobs by run and index only. The
    /// default is <see langword="null"/>. An exception it throws is replaced by the job's run and index.
    /// </value>
    public Func<object?, string>? JobFormatter { get; set; }

    /// <summary>
    /// Checks every setting with the same rules as the pool's constructor.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A numeric or time setting is out of range; the message names it and its value.</exception>
    /// <exception cref="ArgumentException"><see cref="Name"/> is empty or white space.</exception>
    /// <exception cref="ArgumentNullException"><see cref="TimeProvider"/> is <see langword="null"/>.</exception>
    /// <remarks>For configuration validation at startup (for example through <c>IValidateOptions</c>); the pool validates its options itself.</remarks>
    public void Validate() => _ = ValidateAndClone();

    private static int s_unnamedPools;

    /// <summary>Checks every setting and returns an independent copy, with a unique name if none was given.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A numeric or time setting is out of range.</exception>
    /// <exception cref="ArgumentException"><see cref="Name"/> is empty or white space.</exception>
    /// <exception cref="ArgumentNullException"><see cref="TimeProvider"/> is <see langword="null"/>.</exception>
    internal WorkerPoolOptions ValidateAndClone()
    {
        if (MaxWorkers < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxWorkers), MaxWorkers, $"{nameof(WorkerPoolOptions)}.{nameof(MaxWorkers)} must be at least 1, but was {MaxWorkers}.");
        }

        if (QueueCapacity < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(QueueCapacity), QueueCapacity, $"{nameof(WorkerPoolOptions)}.{nameof(QueueCapacity)} must be at least 1, but was {QueueCapacity}.");
        }

        if (WorkerBatchSize is < 1 or > MaxWorkerBatchSize)
        {
            throw new ArgumentOutOfRangeException(nameof(WorkerBatchSize), WorkerBatchSize, $"{nameof(WorkerPoolOptions)}.{nameof(WorkerBatchSize)} must be from 1 to {MaxWorkerBatchSize}, but was {WorkerBatchSize}.");
        }

        if (JobTimeout != Timeout.InfiniteTimeSpan && (JobTimeout <= TimeSpan.Zero || JobTimeout > MaxTimeout))
        {
            throw new ArgumentOutOfRangeException(nameof(JobTimeout), JobTimeout, $"{nameof(WorkerPoolOptions)}.{nameof(JobTimeout)} must be positive and at most {MaxTimeout}, or Timeout.InfiniteTimeSpan, but was {JobTimeout}.");
        }

        if (ShutdownTimeout != Timeout.InfiniteTimeSpan && (ShutdownTimeout < TimeSpan.Zero || ShutdownTimeout > MaxTimeout))
        {
            throw new ArgumentOutOfRangeException(nameof(ShutdownTimeout), ShutdownTimeout, $"{nameof(WorkerPoolOptions)}.{nameof(ShutdownTimeout)} must be zero or positive and at most {MaxTimeout}, or Timeout.InfiniteTimeSpan, but was {ShutdownTimeout}.");
        }

        if (ErrorMode is not (ErrorMode.Collect or ErrorMode.StopOnFirstError))
        {
            throw new ArgumentOutOfRangeException(nameof(ErrorMode), ErrorMode, $"{nameof(WorkerPoolOptions)}.{nameof(ErrorMode)} has the undefined value {(int)ErrorMode}.");
        }

        if (Name is not null && string.IsNullOrWhiteSpace(Name))
        {
            throw new ArgumentException($"{nameof(WorkerPoolOptions)}.{nameof(Name)} must not be empty or white space, but was '{Name}'.", nameof(Name));
        }

        if (TimeProvider is null)
        {
            throw new ArgumentNullException(nameof(TimeProvider), $"{nameof(WorkerPoolOptions)}.{nameof(TimeProvider)} must not be null; the default is TimeProvider.System.");
        }

        return (WorkerPoolOptions)MemberwiseClone();
    }

    /// <summary>The pool's name: <see cref="Name"/>, or the next unique default. Called once per pool.</summary>
    internal string TakeName() => Name ?? $"WorkerPool-{Interlocked.Increment(ref s_unnamedPools)}";
}
