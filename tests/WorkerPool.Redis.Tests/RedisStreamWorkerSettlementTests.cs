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
}
