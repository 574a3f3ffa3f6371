using System.Collections.Concurrent;
using StackExchange.Redis;
using static WorkerPool.Redis.Tests.TestSupport;

namespace WorkerPool.Redis.Tests;

/// <summary>
/// Messages a live consumer holds (queued in its pool, running, or waiting for their retry) are not idle to Redis,
/// however long they wait: neither this consumer's own takeover scans nor other consumers' take them.
/// </summary>
[Collection(RedisServerDefinition.Name)]
public sealed class RedisStreamWorkerHeartbeatTests(RedisFixture redis)
{
    private readonly IDatabase _db = redis.Connection.GetDatabase();

    [Fact]
    public async Task RunAsync_MessageQueuedLongerThanClaimMinIdleTimeFailsOnce_RetriedOnItsSecondDeliveryNotDeadLettered()
    {
        RedisStreamOptions options = Options();
        options.ClaimMinIdleTime = TimeSpan.FromMilliseconds(450);
        options.ClaimInterval = TimeSpan.FromMilliseconds(20);
        options.MaxDeliveries = 3;
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync([0, 1, 2, 3]);
        var attempts = new ConcurrentDictionary<string, ConcurrentQueue<long>>();
        var worker = new RedisStreamWorker<int, int>(
            _db,
            async (message, ct) =>
            {
                ConcurrentQueue<long> deliveries = attempts.GetOrAdd(message.Id, _ => new());
                deliveries.Enqueue(message.DeliveryCount);
                if (message.Job < 3)
                {
                    // One worker: job 3 waits in the queue for 3 x 300 ms, twice ClaimMinIdleTime.
                    await Task.Delay(300, ct);
                }
                else if (deliveries.Count == 1)
                {
                    throw new InvalidOperationException("fails on its first run only");
                }

                return message.Job;
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 3, name: "heartbeat-queued"));
        using var cts = new CancellationTokenSource();
        Task run = worker.RunAsync(cts.Token);
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "every message is acknowledged or dead-lettered");
        await StopAsync(cts, run);

        attempts[ids[3]].Should().Equal([1L, 2L], "its wait in the queue is no delivery; the retry is its second");
        ids.Take(3).Should().OnlyContain(id => attempts[id].Count == 1);
        (await _db.StreamLengthAsync(options.StreamKey + ":dead-letter")).Should().Be(0);
        worker.GetStatistics().Should().Match<RedisStreamStatistics>(s => s.Retried == 1 && s.DeadLettered == 0 && s.Acknowledged == 4 && s.Reclaimed == 0);
    }

    [Fact]
    public async Task RunAsync_SecondConsumerStartsWhileFirstHoldsQueuedMessages_DoesNotTakeThemOver()
    {
        RedisStreamOptions options = Options();
        options.ClaimMinIdleTime = TimeSpan.FromMilliseconds(450);
        options.ClaimInterval = TimeSpan.FromMilliseconds(20);
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync(Enumerable.Range(0, 6));
        var runs = new ConcurrentDictionary<string, ConcurrentQueue<string>>();

        RedisStreamWorker<int, int> Worker(string consumer, int jobMs, int queueCapacity) => new(
            _db,
            async (message, ct) =>
            {
                runs.GetOrAdd(message.Id, _ => new()).Enqueue(consumer);
                await Task.Delay(jobMs, ct);
                return message.Job;
            },
            options.WithConsumer(consumer),
            Pool(maxWorkers: 1, queueCapacity: queueCapacity, name: "heartbeat-" + consumer));

        // Every job (200 ms) is shorter than ClaimMinIdleTime, but the last waits 5 x 200 ms in a's queue.
        RedisStreamWorker<int, int> a = Worker("a", jobMs: 200, queueCapacity: 5), b = Worker("b", jobMs: 0, queueCapacity: 5);
        using var cts = new CancellationTokenSource();
        Task runA = a.RunAsync(cts.Token);
        await EventuallyAsync(async () => await PendingOfAsync(_db, options, "a") == 6, "consumer a holds all six messages");
        Task runB = b.RunAsync(cts.Token);
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "every message is acknowledged");
        await StopAsync(cts, runA);
        await StopAsync(cts, runB);

        runs.Keys.Should().BeEquivalentTo(ids);
        runs.Values.Should().OnlyContain(consumers => consumers.Count == 1 && consumers.Single() == "a", "a live consumer's queued messages are its own");
        b.GetStatistics().Reclaimed.Should().Be(0);
        a.GetStatistics().Acknowledged.Should().Be(6);
    }
}
