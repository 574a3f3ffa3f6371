using System.Diagnostics;
using StackExchange.Redis;

namespace WorkerPool.Redis.Internal;

/// <summary>
/// XCLAIM of a consumer's messages to itself, on condition that it still owns them. Redis's XCLAIM takes a message
/// from whichever consumer holds it; its only guard, a minimum idle time, cannot tell a message still this consumer's
/// from one another consumer took over long enough ago. A Lua script checks each id's owner (XPENDING for that id and
/// this consumer) and claims those this consumer owns, in one step that no other command can interleave with.
/// </summary>
/// <remarks>
/// <see cref="RefreshAsync"/> claims with JUSTID: the idle time restarts from zero and the delivery count stays as it
/// is, which is the heartbeat. <see cref="DeliverAgainAsync"/> claims without it: the delivery count goes up by one,
/// which is a retry. Connection failures are retried through <see cref="RedisRetry"/>. Thread-safe.
/// </remarks>
internal sealed class OwnedClaim
{
    /// <summary>The most ids per script call: Lua's unpack has a limit of a few thousand values. A heartbeat of more takes several calls; a retry takes at most this many.</summary>
    internal const int MaxIdsPerCall = 500;

    // KEYS[1] = stream; ARGV[1] = group, ARGV[2] = consumer, ARGV[3] = "1" for JUSTID, ARGV[4..] = ids.
    // Returns { ids this consumer owned and claimed, XCLAIM's reply (ids with JUSTID, entries without) }.
    private const string Script = """
        local owned = {}
        local claim = { 'XCLAIM', KEYS[1], ARGV[1], ARGV[2], '0' }
        for i = 4, #ARGV do
          if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2]) == 1 then
            owned[#owned + 1] = ARGV[i]
            claim[#claim + 1] = ARGV[i]
          end
        end
        if #owned == 0 then
          return { owned, {} }
        end
        if ARGV[3] == '1' then
          claim[#claim + 1] = 'JUSTID'
        end
        return { owned, redis.call(unpack(claim)) }
        """;

    private readonly IDatabase _database;
    private readonly RedisRetry _retry;
    private readonly RedisKey[] _keys;
    private readonly RedisValue _group;
    private readonly RedisValue _consumer;

    internal OwnedClaim(IDatabase database, RedisRetry retry, RedisKey stream, RedisValue group, RedisValue consumer)
    {
        _database = database;
        _retry = retry;
        _keys = [stream];
        _group = group;
        _consumer = consumer;
    }

    /// <summary>
    /// Restarts the idle time of those of <paramref name="ids"/> this consumer owns, without counting a delivery, so
    /// that no takeover (XAUTOCLAIM) sees them as idle. Returns how many it owned.
    /// </summary>
    internal async Task<int> RefreshAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        int owned = 0;
        for (int start = 0; start < ids.Count; start += MaxIdsPerCall)
        {
            RedisResult[] reply = await EvaluateAsync(ids, start, justId: true, "XCLAIM JUSTID (heartbeat)", cancellationToken).ConfigureAwait(false);
            owned += ((RedisResult[])reply[0]!).Length;
        }

        return owned;
    }

    /// <summary>
    /// Delivers again those of <paramref name="ids"/> this consumer owns, counting a delivery, in one script call: it
    /// claims all of them or, if it fails, none. Returns the ids it owned, and the entries Redis returned for them: an
    /// owned id without an entry was deleted from the stream.
    /// </summary>
    /// <remarks>
    /// It takes at most <see cref="MaxIdsPerCall"/> ids, so that a caller hands what one claim counted as delivered to its
    /// consumer before it claims more: a second claim that failed must not leave the first one's deliveries counted and
    /// never made.
    /// </remarks>
    internal async Task<(HashSet<string> Owned, List<StreamEntry> Entries)> DeliverAgainAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ids.Count, MaxIdsPerCall);
        var owned = new HashSet<string>(StringComparer.Ordinal);
        var entries = new List<StreamEntry>();
        RedisResult[] reply = await EvaluateAsync(ids, 0, justId: false, "XCLAIM (retry)", cancellationToken).ConfigureAwait(false);
        foreach (RedisValue id in (RedisValue[])reply[0]!)
        {
            owned.Add(id.ToString());
        }

        foreach (RedisResult entry in (RedisResult[])reply[1]!)
        {
            // A server older than 7.0 answers nil for an entry deleted from the stream.
            if (!entry.IsNull && (RedisResult[]?)entry is [var id, var fields] && !fields.IsNull)
            {
                RedisValue[] pairs = (RedisValue[])fields!;
                var values = new NameValueEntry[pairs.Length / 2];
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = new NameValueEntry(pairs[2 * i], pairs[(2 * i) + 1]);
                }

                entries.Add(new StreamEntry((RedisValue)id, values));
            }
        }

        Debug.Assert(entries.Count <= owned.Count, "XCLAIM returned an entry this consumer did not own.");
        return (owned, entries);
    }

    private async Task<RedisResult[]> EvaluateAsync(IReadOnlyList<string> ids, int start, bool justId, string operation, CancellationToken cancellationToken)
    {
        int count = Math.Min(MaxIdsPerCall, ids.Count - start);
        var args = new RedisValue[3 + count];
        args[0] = _group;
        args[1] = _consumer;
        args[2] = justId ? "1" : "0";
        for (int i = 0; i < count; i++)
        {
            args[3 + i] = ids[start + i];
        }

        RedisResult result = await _retry.ExecuteAsync(
            () => _database.ScriptEvaluateAsync(Script, _keys, args),
            operation,
            cancellationToken).ConfigureAwait(false);
        return (RedisResult[])result!;
    }
}
