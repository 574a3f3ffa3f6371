using System.Reflection;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;
using static WorkerPool.Redis.Tests.TestSupport;
using FaultyDatabase = WorkerPool.Redis.Tests.RedisStreamWorkerRestartTests.FaultyDatabase;

namespace WorkerPool.Redis.Tests;

/// <summary>
/// A takeover (XAUTOCLAIM) that returns this consumer's own messages, which it may do once they are idle long enough;
/// the heartbeat that keeps them from being idle; and a retry of a message another consumer took over.
/// </summary>
[Collection(RedisServerDefinition.Name)]
public sealed class RedisStreamSourceTakeoverTests(RedisFixture redis)
{
    private readonly IDatabase _db = redis.Connection.GetDatabase();

    [Fact]
    public async Task Takeover_ReturnsOwnMessageThatIsAcknowledgedWhileItIsLookedUp_MessageIsNotDeliveredAgain()
    {
        // The takeover returns message X, still running here; X's job then succeeds and is acknowledged after the
        // takeover has looked up the delivery counts (XPENDING) and before it decides what to deliver. A takeover
        // returns this consumer's own message only when its heartbeat has lapsed: on the fake clock, the next scan
        // (after ClaimInterval, 1 ms) comes before the first heartbeat (after ClaimMinIdleTime / 3, 10 ms).
        var clock = new FakeTimeProvider();
        RedisStreamOptions options = Options();
        options.ClaimMinIdleTime = TimeSpan.FromMilliseconds(30);
        options.ClaimInterval = TimeSpan.FromMilliseconds(1);
        options.TimeProvider = clock;
        string x = await new RedisStreamPublisher<int>(_db, options).PublishAsync(7);
        HookedDatabase hooked = HookedDatabase.Over(_db);
        var source = new RedisStreamSource<int>((IDatabase)(object)hooked, maxOutstanding: 2, options);
        using var cts = new CancellationTokenSource();
        IAsyncEnumerator<RedisStreamMessage<int>> messages = source.GetAsyncEnumerator(cts.Token);
        Task<bool>? move = null;
        try
        {
            (await messages.MoveNextAsync()).Should().BeTrue();
            RedisStreamMessage<int> running = messages.Current;
            running.Id.Should().Be(x);
            await EventuallyAsync(async () => await IdleOfAsync(x, options) > 30, "message X has been idle long enough to be taken over");

            var acknowledged = Gate();
            var readNewAfterTakeover = Gate();
            hooked.AfterPendingLookup = async () =>
            {
                await source.CompleteAsync(new JobResult<RedisStreamMessage<int>, int>(0, running, JobStatus.Succeeded, 7, null, TimeSpan.Zero));
                acknowledged.TrySetResult();
            };
            hooked.BeforeReadNew = () => readNewAfterTakeover.TrySetResult();
            clock.Advance(options.ClaimInterval);
            move = messages.MoveNextAsync().AsTask();

            await Task.WhenAny(move, readNewAfterTakeover.Task).WaitAsync(TimeSpan.FromSeconds(15));
            acknowledged.Task.IsCompleted.Should().BeTrue("the takeover returned X and looked it up");
            move.IsCompleted.Should().BeFalse("X was acknowledged here; the takeover must not deliver it again");
            source.GetStatistics().Reclaimed.Should().Be(0);
            source.GetStatistics().Acknowledged.Should().Be(1);
        }
        finally
        {
            await cts.CancelAsync();
            await EndAsync(move, messages);
        }
    }

    [Fact]
    public async Task Heartbeat_MessageHeld_IdleTimeRestartsWithoutADeliveryUntilTheEnumerationEnds()
    {
        var clock = new FakeTimeProvider();
        RedisStreamOptions options = Options();
        options.ClaimMinIdleTime = TimeSpan.FromMilliseconds(300);
        options.ClaimInterval = TimeSpan.FromMinutes(1);
        options.TimeProvider = clock;
        string x = await new RedisStreamPublisher<int>(_db, options).PublishAsync(7);
        HookedDatabase hooked = HookedDatabase.Over(_db);
        var source = new RedisStreamSource<int>((IDatabase)(object)hooked, maxOutstanding: 2, options);
        using var cts = new CancellationTokenSource();
        IAsyncEnumerator<RedisStreamMessage<int>> messages = source.GetAsyncEnumerator(cts.Token);
        Task<bool>? move = null;
        try
        {
            (await messages.MoveNextAsync()).Should().BeTrue();
            messages.Current.Id.Should().Be(x);
            move = messages.MoveNextAsync().AsTask();
            for (int beat = 1; beat <= 2; beat++)
            {
                await EventuallyAsync(async () => await IdleOfAsync(x, options) >= 60, "X, held here, has been idle for 60 ms");
                clock.Advance(TimeSpan.FromMilliseconds(100));
                await EventuallyAsync(async () => await IdleOfAsync(x, options) < 60, $"heartbeat {beat} has restarted X's idle time");
            }

            StreamPendingMessageInfo[] pending = await _db.StreamPendingMessagesAsync(options.StreamKey, options.GroupName, 10, RedisValue.Null, x, x);
            pending.Should().ContainSingle().Which.Should().Match<StreamPendingMessageInfo>(p => p.ConsumerName == "c1" && p.DeliveryCount == 1);
        }
        finally
        {
            await cts.CancelAsync();
            await EndAsync(move, messages);
        }

        int beats = hooked.Scripts;
        clock.Advance(TimeSpan.FromSeconds(1));
        await Task.Delay(50);
        hooked.Scripts.Should().Be(beats, "the heartbeat stops with the enumeration");
    }

    [Fact]
    public async Task Retry_MessageTakenOverByAnotherConsumerWhileItWaits_IsLeftToThatConsumer()
    {
        var clock = new FakeTimeProvider();
        RedisStreamOptions options = Options();
        options.ClaimInterval = TimeSpan.FromMinutes(1);
        options.TimeProvider = clock;
        string x = await new RedisStreamPublisher<int>(_db, options).PublishAsync(7);
        var source = new RedisStreamSource<int>(_db, maxOutstanding: 2, options);
        using var cts = new CancellationTokenSource();
        IAsyncEnumerator<RedisStreamMessage<int>> messages = source.GetAsyncEnumerator(cts.Token);
        Task<bool>? move = null;
        try
        {
            (await messages.MoveNextAsync()).Should().BeTrue();
            RedisStreamMessage<int> failed = messages.Current;
            failed.Id.Should().Be(x);
            await source.CompleteAsync(new JobResult<RedisStreamMessage<int>, int>(0, failed, JobStatus.Failed, 0, new InvalidOperationException("boom"), TimeSpan.Zero));
            source.GetStatistics().Outstanding.Should().Be(1, "X waits here for its retry");

            // Another consumer takes X over while it waits, and runs it for longer than RetryDelay.
            await _db.StreamClaimAsync(options.StreamKey, options.GroupName, "other", 0, [x]);
            await EventuallyAsync(async () => await IdleOfAsync(x, options) > 2 * options.RetryDelay.TotalMilliseconds, "the other consumer has held X for longer than RetryDelay");

            clock.Advance(options.RetryDelay);
            move = messages.MoveNextAsync().AsTask();
            await EventuallyAsync(() => Task.FromResult(move.IsCompleted || source.GetStatistics().Outstanding == 0), "the retry is due and decided");
            move.IsCompleted.Should().BeFalse("X belongs to the other consumer now: the retry must not take it back");
            source.GetStatistics().Outstanding.Should().Be(0, "this consumer lets go of X");
            StreamPendingMessageInfo[] pending = await _db.StreamPendingMessagesAsync(options.StreamKey, options.GroupName, 10, RedisValue.Null, x, x);
            pending.Should().ContainSingle().Which.Should().Match<StreamPendingMessageInfo>(p => p.ConsumerName == "other" && p.DeliveryCount == 2);
        }
        finally
        {
            await cts.CancelAsync();
            await EndAsync(move, messages);
        }
    }

    [Fact]
    public async Task Retry_MoreDueThanOneClaimTakesAndALaterClaimFails_EveryDeliveryRedisCountedReachesTheConsumer()
    {
        // A claim that counts a delivery must hand its messages to the consumer before the next claim can fail: a count
        // raised for a delivery that never happened brings the message nearer its dead letter without a run.
        var clock = new FakeTimeProvider();
        RedisStreamOptions options = Options();
        options.ClaimInterval = TimeSpan.FromMinutes(1);
        options.ConnectionRetryTimeout = TimeSpan.Zero;
        options.TimeProvider = clock;
        int count = WorkerPool.Redis.Internal.OwnedClaim.MaxIdsPerCall + 100;
        var publisher = new RedisStreamPublisher<int>(_db, options);
        await Task.WhenAll(Enumerable.Range(0, count).Select(job => publisher.PublishAsync(job)).ToArray());
        HookedDatabase hooked = HookedDatabase.Over(_db);
        var source = new RedisStreamSource<int>((IDatabase)(object)hooked, maxOutstanding: count, options);
        using var cts = new CancellationTokenSource();
        IAsyncEnumerator<RedisStreamMessage<int>> messages = source.GetAsyncEnumerator(cts.Token);
        try
        {
            for (int i = 0; i < count; i++)
            {
                (await messages.MoveNextAsync()).Should().BeTrue();
                await source.CompleteAsync(new JobResult<RedisStreamMessage<int>, int>(i, messages.Current, JobStatus.Failed, 0, new InvalidOperationException("boom"), TimeSpan.Zero));
            }

            hooked.FailRetryClaimsAfter(1);
            clock.Advance(options.RetryDelay); // every retry is due at once
            var redelivered = new List<string>();
            Func<Task> readAll = async () =>
            {
                while (await messages.MoveNextAsync())
                {
                    messages.Current.DeliveryCount.Should().Be(2);
                    redelivered.Add(messages.Current.Id);
                }
            };

            await readAll.Should().ThrowAsync<RedisConnectionException>();

            StreamPendingMessageInfo[] pending = await _db.StreamPendingMessagesAsync(options.StreamKey, options.GroupName, count + 1, options.ConsumerName);
            pending.Should().HaveCount(count);
            pending.Where(p => p.DeliveryCount > 1).Select(p => p.MessageId.ToString())
                .Should().BeEquivalentTo(redelivered, "each delivery Redis counted was handed to the consumer");
            redelivered.Should().NotBeEmpty();
        }
        finally
        {
            await cts.CancelAsync();
            await messages.DisposeAsync();
        }
    }

    [Fact]
    public async Task DeadLetter_MessageTakenOverByAnotherConsumerBeforeItsLastFailureIsSettled_IsLeftToThatConsumer()
    {
        RedisStreamOptions options = Options();
        options.MaxDeliveries = 1;
        string x = await new RedisStreamPublisher<int>(_db, options).PublishAsync(7);
        var source = new RedisStreamSource<int>(_db, maxOutstanding: 2, options);
        await using (IAsyncEnumerator<RedisStreamMessage<int>> messages = source.GetAsyncEnumerator())
        {
            (await messages.MoveNextAsync()).Should().BeTrue();
            RedisStreamMessage<int> failed = messages.Current;

            // Another consumer takes X over while its job here runs (this one was cut off for longer than
            // ClaimMinIdleTime, say), and runs it too.
            await _db.StreamClaimAsync(options.StreamKey, options.GroupName, "other", 0, [x]);
            await source.CompleteAsync(new JobResult<RedisStreamMessage<int>, int>(0, failed, JobStatus.Failed, 0, new InvalidOperationException("boom"), TimeSpan.Zero));
        }

        (await _db.StreamLengthAsync(options.EffectiveDeadLetterStreamKey)).Should().Be(0, "X is the other consumer's to settle now");
        StreamPendingMessageInfo[] pending = await _db.StreamPendingMessagesAsync(options.StreamKey, options.GroupName, 10, RedisValue.Null, x, x);
        pending.Should().ContainSingle().Which.ConsumerName.ToString().Should().Be("other");
        source.GetStatistics().Should().Match<RedisStreamStatistics>(s => s.DeadLettered == 0 && s.Outstanding == 0);
    }

    [Fact]
    public async Task DeadLetter_ReplyLostAfterTheScriptRan_TheRetryWritesNoSecondCopy()
    {
        RedisStreamOptions options = Options();
        options.MaxDeliveries = 1;
        await new RedisStreamPublisher<int>(_db, options).PublishAsync(7);
        FaultyDatabase database = FaultyDatabase.Over(_db);
        var source = new RedisStreamSource<int>(database.AsDatabase(), maxOutstanding: 2, options);
        await using IAsyncEnumerator<RedisStreamMessage<int>> messages = source.GetAsyncEnumerator();
        (await messages.MoveNextAsync()).Should().BeTrue();
        database.LoseNextScriptReply();

        await source.CompleteAsync(new JobResult<RedisStreamMessage<int>, int>(0, messages.Current, JobStatus.Failed, 0, new InvalidOperationException("boom"), TimeSpan.Zero));

        (await _db.StreamLengthAsync(options.EffectiveDeadLetterStreamKey)).Should().Be(1, "the script ran once on the server; its retry finds the message settled");
        (await PendingOfAsync(_db, options, "c1")).Should().Be(0);
        source.GetStatistics().DeadLettered.Should().Be(1, "the first attempt moved it, though its reply was lost");
    }

    private async Task<long> IdleOfAsync(string id, RedisStreamOptions options)
    {
        StreamPendingMessageInfo[] pending = await _db.StreamPendingMessagesAsync(options.StreamKey, options.GroupName, 10, RedisValue.Null, id, id);
        return pending.Length == 0 ? -1 : pending[0].IdleTimeInMilliseconds;
    }

    /// <summary>Once the enumeration is cancelled: waits for the pending move, if any, then disposes the enumerator.</summary>
    private static async Task EndAsync(Task<bool>? move, IAsyncEnumerator<RedisStreamMessage<int>> messages)
    {
        try
        {
            await (move ?? Task.FromResult(false)).WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch (OperationCanceledException)
        {
            // The source polls until its enumeration is cancelled.
        }

        await messages.DisposeAsync();
    }

    /// <summary>
    /// A database that forwards every call, runs a hook after the first pending lookup and before reads of new
    /// messages, and counts scripts.
    /// </summary>
    public class HookedDatabase : DispatchProxy
    {
        private IDatabase _inner = null!;

        private Func<Task>? _afterPending;

        private int _scripts;

        private long _retryClaimsLeft = long.MaxValue;

        /// <summary>Runs once, after the next XPENDING has returned and before its result is handed back.</summary>
        public Func<Task>? AfterPendingLookup
        {
            set => Volatile.Write(ref _afterPending, value);
        }

        /// <summary>Gets the number of Lua scripts run so far: owner-checked claims.</summary>
        public int Scripts => Volatile.Read(ref _scripts);

        /// <summary>Runs before each XREADGROUP for new messages, once set.</summary>
        public Action? BeforeReadNew { get; set; }

        /// <summary>
        /// Lets <paramref name="claims"/> more retry claims (owner-checked XCLAIMs that count a delivery) run, then fails
        /// every later one with a <see cref="RedisConnectionException"/>.
        /// </summary>
        public void FailRetryClaimsAfter(int claims) => Interlocked.Exchange(ref _retryClaimsLeft, claims);

        public static HookedDatabase Over(IDatabase inner)
        {
            object proxy = Create<IDatabase, HookedDatabase>();
            var hooked = (HookedDatabase)proxy;
            hooked._inner = inner;
            return hooked;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            if (targetMethod.Name == nameof(IDatabase.StreamReadGroupAsync) && args is [_, _, _, RedisValue position, ..] && position == StreamPosition.NewMessages)
            {
                BeforeReadNew?.Invoke();
            }

            if (targetMethod.Name == nameof(IDatabase.ScriptEvaluateAsync))
            {
                Interlocked.Increment(ref _scripts);
                bool retryClaim = args is [_, _, RedisValue[] values, ..] && values.Length > 2 && values[2] == "0";
                if (retryClaim && Interlocked.Decrement(ref _retryClaimsLeft) < 0)
                {
                    return Task.FromException<RedisResult>(new RedisConnectionException(
                        ConnectionFailureType.SocketFailure, CommandFlags.None, "The test cut the connection.", innerException: null, CommandStatus.Sent));
                }
            }

            object? result = targetMethod.Invoke(_inner, args);
            if (targetMethod.Name == nameof(IDatabase.StreamPendingMessagesAsync) && Interlocked.Exchange(ref _afterPending, null) is { } hook)
            {
                return ThenAsync((Task<StreamPendingMessageInfo[]>)result!, hook);
            }

            return result;
        }

        private static async Task<StreamPendingMessageInfo[]> ThenAsync(Task<StreamPendingMessageInfo[]> lookup, Func<Task> hook)
        {
            StreamPendingMessageInfo[] pending = await lookup;
            await hook();
            return pending;
        }
    }
}
