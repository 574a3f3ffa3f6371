using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using WorkerPool.Redis.Internal;
using static WorkerPool.Redis.Tests.TestSupport;

namespace WorkerPool.Redis.Tests.Internal;

[Collection(RedisServerDefinition.Name)]
public sealed class OwnedClaimTests(RedisFixture redis)
{
    private readonly IDatabase _db = redis.Connection.GetDatabase();

    [Fact]
    public async Task RefreshAsync_OwnAndOthersMessages_RestartsOnlyOwnIdleTimeAndCountsNoDelivery()
    {
        (RedisStreamOptions options, string mine, string theirs) = await TwoPendingAsync();
        await EventuallyAsync(async () => (await InfoAsync(options, theirs)).IdleTimeInMilliseconds >= 50, "both messages have been idle for 50 ms");

        int owned = await Claim(options).RefreshAsync([mine, theirs, "1-999"], CancellationToken.None);

        owned.Should().Be(1);
        StreamPendingMessageInfo own = await InfoAsync(options, mine), other = await InfoAsync(options, theirs);
        own.Should().Match<StreamPendingMessageInfo>(p => p.ConsumerName == "c1" && p.DeliveryCount == 1);
        other.Should().Match<StreamPendingMessageInfo>(p => p.ConsumerName == "other" && p.DeliveryCount == 1 && p.IdleTimeInMilliseconds >= 50);
        own.IdleTimeInMilliseconds.Should().BeLessThan(other.IdleTimeInMilliseconds, "own was delivered first, and refreshed after other was delivered");
    }

    [Fact]
    public async Task DeliverAgainAsync_OwnOthersAndDeletedMessages_ClaimsOnlyOwnAndCountsADelivery()
    {
        (RedisStreamOptions options, string mine, string theirs) = await TwoPendingAsync();
        string deleted = await new RedisStreamPublisher<int>(_db, options).PublishAsync(3);
        await _db.StreamReadGroupAsync(options.StreamKey, options.GroupName, "c1", StreamPosition.NewMessages);
        await _db.StreamDeleteAsync(options.StreamKey, [deleted]);

        (HashSet<string> owned, List<StreamEntry> entries) = await Claim(options).DeliverAgainAsync([mine, theirs, deleted], CancellationToken.None);

        owned.Should().Contain(mine).And.NotContain(theirs);
        entries.Should().ContainSingle().Which.Should().Match<StreamEntry>(e => e.Id == mine && e["job"] == "1");
        (await InfoAsync(options, mine)).Should().Match<StreamPendingMessageInfo>(p => p.ConsumerName == "c1" && p.DeliveryCount == 2);
        (await InfoAsync(options, theirs)).Should().Match<StreamPendingMessageInfo>(p => p.ConsumerName == "other" && p.DeliveryCount == 1);
    }

    [Fact]
    public async Task RefreshAsync_MoreIdsThanOneScriptCallTakes_RefreshesThemAllInSeveralCalls()
    {
        (RedisStreamOptions options, List<string> mine, string theirs) = await ManyPendingAsync();
        await EventuallyAsync(async () => (await InfoAsync(options, mine[^1])).IdleTimeInMilliseconds >= 200, "every message has been idle for 200 ms");

        int owned = await Claim(options).RefreshAsync([.. mine, theirs], CancellationToken.None);

        owned.Should().Be(mine.Count);
        StreamPendingMessageInfo[] own = await _db.StreamPendingMessagesAsync(options.StreamKey, options.GroupName, mine.Count + 1, "c1");
        own.Should().HaveCount(mine.Count).And.OnlyContain(p => p.DeliveryCount == 1);
        long idleOfOther = (await InfoAsync(options, theirs)).IdleTimeInMilliseconds;
        own.Should().OnlyContain(p => p.IdleTimeInMilliseconds < idleOfOther, "every batch restarted the idle time of its own messages, and only theirs");
    }

    [Fact]
    public async Task DeliverAgainAsync_MoreIdsThanOneScriptCallTakes_ThrowsAndClaimsNothing()
    {
        // One call is one claim: all or nothing. More ids than one script call takes would need several claims, and a
        // later one that failed would leave the earlier ones' deliveries counted but never made.
        (RedisStreamOptions options, List<string> mine, _) = await ManyPendingAsync();

        Func<Task> claim = () => Claim(options).DeliverAgainAsync(mine, CancellationToken.None);

        await claim.Should().ThrowAsync<ArgumentOutOfRangeException>();
        StreamPendingMessageInfo[] own = await _db.StreamPendingMessagesAsync(options.StreamKey, options.GroupName, mine.Count + 1, "c1");
        own.Should().HaveCount(mine.Count).And.OnlyContain(p => p.DeliveryCount == 1);
    }

    [Fact]
    public async Task DeliverAgainAsync_AsManyIdsAsOneScriptCallTakes_ClaimsOnlyOwnInOneCall()
    {
        (RedisStreamOptions options, List<string> mine, string theirs) = await ManyPendingAsync();
        List<string> ids = [.. mine.Take(OwnedClaim.MaxIdsPerCall - 1), theirs];

        (HashSet<string> owned, List<StreamEntry> entries) = await Claim(options).DeliverAgainAsync(ids, CancellationToken.None);

        owned.Should().BeEquivalentTo(mine.Take(OwnedClaim.MaxIdsPerCall - 1));
        entries.Select(e => e.Id.ToString()).Should().BeEquivalentTo(owned);
        (await InfoAsync(options, theirs)).Should().Match<StreamPendingMessageInfo>(p => p.ConsumerName == "other" && p.DeliveryCount == 1);
    }

    /// <summary>
    /// More messages pending at consumer c1 than one script call takes (two full calls and part of a third), read before
    /// one pending at consumer "other".
    /// </summary>
    private async Task<(RedisStreamOptions Options, List<string> Mine, string Theirs)> ManyPendingAsync()
    {
        RedisStreamOptions options = Options();
        int count = (2 * OwnedClaim.MaxIdsPerCall) + 3;
        await _db.StreamCreateConsumerGroupAsync(options.StreamKey, options.GroupName, StreamPosition.Beginning, createStream: true);
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync(Enumerable.Range(0, count + 1));
        (await _db.StreamReadGroupAsync(options.StreamKey, options.GroupName, "c1", StreamPosition.NewMessages, count)).Should().HaveCount(count);
        await _db.StreamReadGroupAsync(options.StreamKey, options.GroupName, "other", StreamPosition.NewMessages, 1);
        return (options, ids.Take(count).ToList(), ids[count]);
    }

    /// <summary>Two messages, pending at consumer c1 and at consumer "other".</summary>
    private async Task<(RedisStreamOptions Options, string Mine, string Theirs)> TwoPendingAsync()
    {
        RedisStreamOptions options = Options();
        await _db.StreamCreateConsumerGroupAsync(options.StreamKey, options.GroupName, StreamPosition.Beginning, createStream: true);
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync([1, 2]);
        await _db.StreamReadGroupAsync(options.StreamKey, options.GroupName, "c1", StreamPosition.NewMessages, 1);
        await _db.StreamReadGroupAsync(options.StreamKey, options.GroupName, "other", StreamPosition.NewMessages, 1);
        return (options, ids[0], ids[1]);
    }

    private OwnedClaim Claim(RedisStreamOptions options) =>
        new(_db, new RedisRetry(TimeSpan.FromSeconds(5), TimeProvider.System, NullLogger.Instance), options.StreamKey, options.GroupName, "c1");

    private async Task<StreamPendingMessageInfo> InfoAsync(RedisStreamOptions options, string id) =>
        (await _db.StreamPendingMessagesAsync(options.StreamKey, options.GroupName, 1, RedisValue.Null, id, id)).Single();
}
