namespace WorkerPool.Redis;

/// <summary>
/// Settings of a Redis stream worker registered with
/// <c>AddRedisStreamWorker&lt;TJob, TResult, THandler&gt;(name)</c>: the stream it reads, the pool that runs its jobs,
/// the Redis database, and how long it waits before it starts again after Redis was unreachable.
/// </summary>
/// <remarks>
/// These are named options: the name is the worker's registration name. They are validated with the rules of
/// <see cref="RedisStreamWorker{TJob, TResult}"/> when they are first built, at the latest when the host starts, and the
/// worker is built from them once; later changes of the configuration do not reach it. The type itself is not
/// thread-safe: the options system fills it in on one thread.
/// </remarks>
public sealed class RedisStreamWorkerOptions
{
    /// <summary>
    /// The longest <see cref="RestartDelay"/>: that of <see cref="Task.Delay(TimeSpan, TimeProvider, CancellationToken)"/>.
    /// </summary>
    internal static readonly TimeSpan MaxRestartDelay = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>Gets the settings of the stream, its consumer group and this consumer.</summary>
    /// <value>
    /// The defaults of <see cref="RedisStreamOptions"/>, but for <see cref="RedisStreamOptions.TimeProvider"/>: the
    /// container's <see cref="System.TimeProvider"/> service when it has one. Set <see cref="RedisStreamOptions.ConsumerName"/>
    /// to a name that stays the same across restarts of the process (the pod's or machine's name), so that a restarted
    /// process takes its own pending messages back at once. Two workers of one process that read the same stream with the
    /// same group need consumer names of their own: the default is the same for both.
    /// </value>
    public RedisStreamOptions Stream { get; } = new();

    /// <summary>Gets the settings of the pool that runs the jobs.</summary>
    /// <value>
    /// The defaults of <see cref="WorkerPoolOptions"/>, but for <see cref="WorkerPoolOptions.Name"/>, which is the
    /// registration name, and <see cref="WorkerPoolOptions.TimeProvider"/>, which is the container's
    /// <see cref="System.TimeProvider"/> service when it has one. <see cref="WorkerPoolOptions.ErrorMode"/> must stay
    /// <see cref="ErrorMode.Collect"/>. The worker holds at most <see cref="WorkerPoolOptions.QueueCapacity"/> +
    /// <see cref="WorkerPoolOptions.MaxWorkers"/> messages, so set a small queue (the default is 1024).
    /// </value>
    public WorkerPoolOptions Pool { get; } = new();

    /// <summary>
    /// Gets or sets how long the worker waits before it runs again after its run ended because Redis stayed unreachable
    /// for longer than <see cref="RedisStreamOptions.ConnectionRetryTimeout"/>. The wait follows the stream's
    /// <see cref="RedisStreamOptions.TimeProvider"/>.
    /// </summary>
    /// <value>Positive, and at most about 49.7 days. The default is 5 seconds.</value>
    public TimeSpan RestartDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets the number of the Redis database that holds the stream, as for <c>IConnectionMultiplexer.GetDatabase(db)</c>.</summary>
    /// <value>Zero or more, or -1 for the connection's default database. The default is -1.</value>
    public int Database { get; set; } = -1;
}
