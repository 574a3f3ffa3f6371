using StackExchange.Redis;

namespace WorkerPool.Redis;

/// <summary>
/// Adds jobs to a Redis stream in the form <see cref="RedisStreamSource{TJob}"/> reads: one entry per job, with the
/// serialized job in <see cref="RedisStreamOptions.PayloadField"/>.
/// </summary>
/// <typeparam name="TJob">The type of the job.</typeparam>
/// <remarks>Thread-safe.</remarks>
public sealed class RedisStreamPublisher<TJob>
{
    private readonly IDatabase _database;
    private readonly RedisKey _stream;
    private readonly RedisValue _field;
    private readonly IRedisJobSerializer<TJob> _serializer;

    /// <summary>Creates a publisher.</summary>
    /// <param name="database">The Redis database that holds the stream.</param>
    /// <param name="options">The stream settings (only the stream key and payload field are used); <see langword="null"/> for the defaults.</param>
    /// <param name="serializer">Writes the jobs; <see langword="null"/> for <see cref="JsonRedisJobSerializer{TJob}"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="database"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A name or key in the options is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public RedisStreamPublisher(IDatabase database, RedisStreamOptions? options = null, IRedisJobSerializer<TJob>? serializer = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        RedisStreamOptions valid = (options ?? new RedisStreamOptions()).ValidateAndClone();
        _database = database;
        _stream = valid.StreamKey;
        _field = valid.PayloadField;
        _serializer = serializer ?? new JsonRedisJobSerializer<TJob>();
    }

    /// <summary>Adds one job.</summary>
    /// <param name="job">The job.</param>
    /// <returns>The id of the new stream entry.</returns>
    public async Task<string> PublishAsync(TJob job) =>
        (await _database.StreamAddAsync(_stream, _field, _serializer.Serialize(job)).ConfigureAwait(false)).ToString();

    /// <summary>Adds many jobs, pipelined in batches.</summary>
    /// <param name="jobs">The jobs, added in order.</param>
    /// <param name="cancellationToken">Stops adding between two batches; the jobs already added stay.</param>
    /// <returns>The ids of the new stream entries, in the order of <paramref name="jobs"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="jobs"/> is <see langword="null"/>.</exception>
    /// <exception cref="OperationCanceledException">(From the task.) <paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<IReadOnlyList<string>> PublishManyAsync(IEnumerable<TJob> jobs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        return cancellationToken.IsCancellationRequested
            ? Task.FromCanceled<IReadOnlyList<string>>(cancellationToken)
            : PublishManyCoreAsync(jobs, cancellationToken);
    }

    private async Task<IReadOnlyList<string>> PublishManyCoreAsync(IEnumerable<TJob> jobs, CancellationToken cancellationToken)
    {
        const int BatchSize = 1000;
        var ids = new List<string>();
        var pending = new List<Task<RedisValue>>(BatchSize);
        foreach (TJob job in jobs)
        {
            pending.Add(_database.StreamAddAsync(_stream, _field, _serializer.Serialize(job)));
            if (pending.Count == BatchSize)
            {
                await DrainAsync(pending, ids).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        await DrainAsync(pending, ids).ConfigureAwait(false);
        return ids;
    }

    private static async Task DrainAsync(List<Task<RedisValue>> pending, List<string> ids)
    {
        foreach (Task<RedisValue> add in pending)
        {
            ids.Add((await add.ConfigureAwait(false)).ToString());
        }

        pending.Clear();
    }
}
