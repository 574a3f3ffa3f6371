using System.Text.Json;

namespace WorkerPool.Redis;

/// <summary>
/// The default <see cref="IRedisJobSerializer{TJob}"/>: UTF-8 JSON with System.Text.Json.
/// </summary>
/// <typeparam name="TJob">The type of the job.</typeparam>
/// <remarks>Thread-safe.</remarks>
public sealed class JsonRedisJobSerializer<TJob> : IRedisJobSerializer<TJob>
{
    private readonly JsonSerializerOptions _options;

    /// <summary>Creates a serializer.</summary>
    /// <param name="options">The JSON settings; <see langword="null"/> for <see cref="JsonSerializerDefaults.Web"/>.</param>
    public JsonRedisJobSerializer(JsonSerializerOptions? options = null)
    {
        _options = options ?? new JsonSerializerOptions(JsonSerializerDefaults.Web);
    }

    /// <inheritdoc />
    public byte[] Serialize(TJob job) => JsonSerializer.SerializeToUtf8Bytes(job, _options);

    /// <inheritdoc />
    /// <exception cref="JsonException">The payload is not valid JSON for <typeparamref name="TJob"/>, or is <c>null</c>.</exception>
    public TJob Deserialize(ReadOnlyMemory<byte> payload) =>
        JsonSerializer.Deserialize<TJob>(payload.Span, _options)
        ?? throw new JsonException($"The payload is the JSON null, not a {typeof(TJob).Name}.");
}
