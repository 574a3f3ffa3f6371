using StackExchange.Redis;
using static WorkerPool.Redis.Tests.TestSupport;
using FaultyDatabase = WorkerPool.Redis.Tests.RedisStreamWorkerRestartTests.FaultyDatabase;

namespace WorkerPool.Redis.Tests;

/// <summary>How a worker sends its settlements to Redis.</summary>
[Collection(RedisServerDefinition.Name)]
public sealed class RedisStreamWorkerSettlementTests(RedisFixture redis)
{
    private readonly IDatabase _db = redis.Connection.GetDatabase();

    [Fact]
    public async Task RunAsync_OutcomesFinishWhileAnAcknowledgementIsInFlight_AcknowledgesThemTogetherInOneXack()
    {
        RedisStreamOptions options = Options();
        const int Messages = 20;
        await new RedisStreamPublisher<int>(_db, options).PublishManyAsync(Enumerable.Range(0, Messages));
        FaultyDatabase database = FaultyDatabase.Over(_db);
        (TaskCompletionSource sent, TaskCompletionSource release) = database.HoldNextAcknowledgement();
        int ran = 0;
        TaskCompletionSource allRan = Gate();
        var worker = new RedisStreamWorker<int, int>(
            database.AsDatabase(),
            (message, _) =>
            {
                if (Interlocked.Increment(ref ran) == Messages)
                {
                    allRan.TrySetResult();
                }

                return ValueTask.FromResult(message.Job);
            },
            options,
            Pool(maxWorkers: 4, queueCapacity: Messages - 4, name: "batched-acknowledgements"));
        using var cts = new CancellationTokenSource();
        Task run = worker.RunAsync(cts.Token);

        // The first outcome's XACK is held; meanwhile every other job finishes, and its outcome waits for the worker.
        await sent.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await allRan.Task.WaitAsync(TimeSpan.FromSeconds(15));
        release.SetResult();

        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "every message is acknowledged");
        await StopAsync(cts, run);
        worker.GetStatistics().Acknowledged.Should().Be(Messages);
        database.AcknowledgedPerCall.Sum().Should().Be(Messages, "each message is acknowledged once");
        database.AcknowledgedPerCall.Should().HaveCountLessThan(Messages, "outcomes that are ready together share one XACK")
            .And.Contain(count => count > 1);
    }

    [Fact]
    public async Task RunAsync_SettlementFailsAfterSuccessesWereGathered_TheSuccessesAreAcknowledgedFirst()
    {
        RedisStreamOptions options = await Options().RefusingDeadLettersAsync(_db);
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync([0, 1, 2, 3, 4]);
        FaultyDatabase database = FaultyDatabase.Over(_db);
        (TaskCompletionSource sent, TaskCompletionSource release) = database.HoldNextAcknowledgement();
        TaskCompletionSource lastStarted = Gate();
        var worker = new RedisStreamWorker<int, int>(
            database.AsDatabase(),
            async (message, ct) =>
            {
                switch (message.Job)
                {
                    case 1:
                        // Job 0's XACK is on its way, and held, before this one ends.
                        await sent.Task;
                        return 1;
                    case 3:
                        // Dead-lettered at once (MaxDeliveries 1), which Redis refuses.
                        throw new InvalidOperationException("cannot process it");
                    case 4:
                        // One worker: the outcomes of jobs 1 to 3 are out.
                        lastStarted.TrySetResult();
                        await Task.Delay(Timeout.Infinite, ct);
                        return 4;
                    default:
                        return message.Job;
                }
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 5, name: "settlement-fails-after-successes"));

        Task run = worker.RunAsync();
        await sent.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await lastStarted.Task.WaitAsync(TimeSpan.FromSeconds(15));
        release.SetResult();

        // Jobs 1 and 2 succeeded before job 3's outcome came, with Redis reachable: they are acknowledged before its
        // dead letter is tried. Only 3 (refused) and 4 (cancelled as the run ended) stay pending.
        Func<Task> running = () => run.WaitAsync(TimeSpan.FromSeconds(15));
        await running.Should().ThrowAsync<RedisServerException>();
        StreamPendingMessageInfo[] pending = await _db.StreamPendingMessagesAsync(options.StreamKey, options.GroupName, 10, "c1");
        pending.Select(p => p.MessageId.ToString()).Should().BeEquivalentTo([ids[3], ids[4]]);
    }
}
