namespace WorkerPool.Redis;

/// <summary>
/// Turns a job into the bytes stored in a stream entry, and back.
/// </summary>
/// <typeparam name="TJob">The type of the job.</typeparam>
/// <remarks>
/// Implementations must be thread-safe. <see cref="Deserialize"/> may throw on a payload it cannot read: the message
/// then goes to the dead-letter stream with the exception's message as the reason, and is never run.
/// </remarks>
public interface IRedisJobSerializer<TJob>
{
    /// <summary>Serializes a job.</summary>
    /// <param name="job">The job.</param>
    /// <returns>The payload to store in the stream entry.</returns>
    byte[] Serialize(TJob job);

    /// <summary>Deserializes a job.</summary>
    /// <param name="payload">The payload read from the stream entry.</param>
    /// <returns>The job.</returns>
    /// <exception cref="Exception">The payload is not a valid job (any exception type).</exception>
    TJob Deserialize(ReadOnlyMemory<byte> payload);
}
