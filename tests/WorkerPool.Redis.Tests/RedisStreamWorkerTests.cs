using System.Collections.Concurrent;
using StackExchange.Redis;
using WorkerPool.Testing;
using static WorkerPool.Redis.Tests.TestSupport;
using FaultyDatabase = WorkerPool.Redis.Tests.RedisStreamWorkerRestartTests.FaultyDatabase;

namespace WorkerPool.Redis.Tests;

[Collection(RedisServerDefinition.Name)]
public sealed class RedisStreamWorkerTests(RedisFixture redis)
{
    private readonly IDatabase _db = redis.Connection.GetDatabase();

    [Fact]
    public async Task RunAsync_TwoCompetingConsumers_ShareTheWorkAndAcknowledgeEachMessageOnce()
    {
        RedisStreamOptions options = Options();
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync(Enumerable.Range(0, 200));
        var done = new ConcurrentDictionary<string, ConcurrentBag<string>>();
        var started = new ConcurrentDictionary<string, bool>();
        TaskCompletionSource bothStarted = Gate();

        RedisStreamWorker<int, int> Worker(string consumer) => new(
            _db,
            async (message, ct) =>
            {
                // Neither consumer finishes a job before both have one: the other cannot arrive too late to get work.
                started[consumer] = true;
                if (started.Count == 2)
                {
                    bothStarted.TrySetResult();
                }

                await bothStarted.Task.WaitAsync(ct);
                await Task.Yield();
                done.GetOrAdd(message.Id, _ => []).Add(consumer);
                return message.Job;
            },
            options.WithConsumer(consumer),
            Pool(maxWorkers: 2, queueCapacity: 4, name: "competing"));

        RedisStreamWorker<int, int> a = Worker("a"), b = Worker("b");
        using var cts = new CancellationTokenSource();
        Task runA = a.RunAsync(cts.Token), runB = b.RunAsync(cts.Token);
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "every message is acknowledged");
        await StopAsync(cts, runA);
        await StopAsync(cts, runB);

        done.Keys.Should().BeEquivalentTo(ids);
        done.Values.Should().OnlyContain(consumers => consumers.Count == 1, "no message runs twice when no consumer fails");
        done.Values.Count(c => c.Single() == "a").Should().BeGreaterThan(0);
        done.Values.Count(c => c.Single() == "b").Should().BeGreaterThan(0);
        (a.GetStatistics().Acknowledged + b.GetStatistics().Acknowledged).Should().Be(200);
        a.GetStatistics().Outstanding.Should().Be(0);
        await WorkerPoolLeakCheck.VerifyNoneAsync("competing");
    }

    [Fact]
    public async Task RunAsync_ConsumerStoppedWithoutAcknowledging_AnotherTakesOverItsMessages()
    {
        RedisStreamOptions options = Options();
        options.ClaimMinIdleTime = TimeSpan.FromMilliseconds(200);
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync(Enumerable.Range(0, 30));

        // Consumer "dying" takes its share and never acknowledges any of it: its jobs hang until it is stopped, and
        // its own connection goes away with it, as when a process is killed.
        var dying = redis.Server.Connect();
        TaskCompletionSource never = Gate();
        var dyingWorker = new RedisStreamWorker<int, int>(
            dying.GetDatabase(),
            async (message, ct) =>
            {
                await never.Task.WaitAsync(ct);
                return 0;
            },
            options.WithConsumer("dying"),
            Pool(maxWorkers: 2, queueCapacity: 3, name: "dying"));
        using var dyingCts = new CancellationTokenSource();
        Task dyingRun = dyingWorker.RunAsync(dyingCts.Token);
        await EventuallyAsync(async () => await PendingOfAsync(_db, options, "dying") == 5, "the dying consumer holds its bound of 5 messages");
        await StopAsync(dyingCts, dyingRun);
        await dying.DisposeAsync();
        (await PendingOfAsync(_db, options, "dying")).Should().Be(5, "nothing it held was acknowledged");

        var done = new ConcurrentDictionary<string, int>();
        var survivor = new RedisStreamWorker<int, int>(
            _db,
            (message, _) =>
            {
                done.AddOrUpdate(message.Id, 1, (_, n) => n + 1);
                return ValueTask.FromResult(message.Job);
            },
            options.WithConsumer("survivor"),
            Pool(maxWorkers: 2, queueCapacity: 3, name: "survivor"));
        using var cts = new CancellationTokenSource();
        Task run = survivor.RunAsync(cts.Token);
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "every message is acknowledged");
        await StopAsync(cts, run);

        done.Keys.Should().BeEquivalentTo(ids, "the survivor ran every message, the dead consumer's included");
        survivor.GetStatistics().Reclaimed.Should().Be(5);
        (await PendingOfAsync(_db, options, "dying")).Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_JobKeepsFailing_DeadLetteredAfterMaxDeliveries()
    {
        RedisStreamOptions options = Options();
        options.MaxDeliveries = 3;
        var publisher = new RedisStreamPublisher<int>(_db, options);
        string poison = await publisher.PublishAsync(-1);
        IReadOnlyList<string> good = await publisher.PublishManyAsync([1, 2, 3]);
        var attempts = new ConcurrentDictionary<string, List<long>>();
        var worker = new RedisStreamWorker<int, int>(
            _db,
            (message, _) =>
            {
                attempts.GetOrAdd(message.Id, _ => []).Add(message.DeliveryCount);
                return message.Job < 0 ? throw new InvalidOperationException("cannot process a negative job") : ValueTask.FromResult(message.Job);
            },
            options,
            Pool(maxWorkers: 2, queueCapacity: 2, name: "poison"));
        using var cts = new CancellationTokenSource();
        Task run = worker.RunAsync(cts.Token);
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "every message is acknowledged or dead-lettered");
        await StopAsync(cts, run);

        attempts[poison].Should().Equal([1L, 2L, 3L], "each delivery is counted, and the third is the last");
        good.Should().OnlyContain(id => attempts[id].Count == 1);
        StreamEntry[] dead = await _db.StreamRangeAsync(options.StreamKey + ":dead-letter");
        dead.Should().ContainSingle();
        dead[0]["id"].ToString().Should().Be(poison);
        dead[0]["deliveries"].ToString().Should().Be("3");
        dead[0]["reason"].ToString().Should().Contain("Failed on delivery 3 of 3").And.Contain("cannot process a negative job");
        dead[0]["payload"].ToString().Should().Be("-1");
        worker.GetStatistics().Should().Match<RedisStreamStatistics>(s => s.Retried == 2 && s.DeadLettered == 1 && s.Acknowledged == 3 && s.Outstanding == 0);
    }

    [Fact]
    public async Task RunAsync_DeadLetterStreamCannotTakeTheMessage_FailsAndLeavesTheMessagePending()
    {
        RedisStreamOptions options = await Options().RefusingDeadLettersAsync(_db);
        string poison = await new RedisStreamPublisher<int>(_db, options).PublishAsync(-1);
        var worker = new RedisStreamWorker<int, int>(
            _db,
            (message, _) => throw new InvalidOperationException("cannot process it"),
            options,
            Pool(maxWorkers: 1, queueCapacity: 1, name: "dead-letter-refused"));

        Func<Task> running = () => worker.RunAsync().WaitAsync(TimeSpan.FromSeconds(15));

        (await running.Should().ThrowAsync<RedisServerException>()).Which.Message.Should().StartWith("WRONGTYPE");
        StreamPendingMessageInfo[] pending = await _db.StreamPendingMessagesAsync(options.StreamKey, options.GroupName, 10, "c1");
        pending.Should().ContainSingle().Which.MessageId.ToString().Should().Be(poison, "a message is acknowledged only once its dead letter is written");
        worker.GetStatistics().DeadLettered.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_Cancelled_LeavesUnfinishedMessagesPendingAndARestartedConsumerRunsThem()
    {
        RedisStreamOptions options = Options();
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync(Enumerable.Range(0, 10));
        TaskCompletionSource firstStarted = Gate();
        TaskCompletionSource never = Gate();
        var firstRun = new RedisStreamWorker<int, int>(
            _db,
            async (message, ct) =>
            {
                firstStarted.TrySetResult();
                await never.Task.WaitAsync(ct);
                return 0;
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 3, name: "restart-1"));
        using (var cts = new CancellationTokenSource())
        {
            Task run = firstRun.RunAsync(cts.Token);
            await firstStarted.Task;
            await EventuallyAsync(async () => await PendingOfAsync(_db, options, "c1") == 4, "the consumer holds one running and three queued messages");
            await StopAsync(cts, run);
        }

        (await PendingOfAsync(_db, options, "c1")).Should().Be(4, "neither the cancelled job nor the never-started ones were acknowledged");
        firstRun.GetStatistics().Acknowledged.Should().Be(0);

        var done = new ConcurrentDictionary<string, long>();
        var restarted = new RedisStreamWorker<int, int>(
            _db,
            (message, _) =>
            {
                done[message.Id] = message.DeliveryCount;
                return ValueTask.FromResult(message.Job);
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 3, name: "restart-2"));
        using (var cts = new CancellationTokenSource())
        {
            Task run = restarted.RunAsync(cts.Token);
            await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "every message is acknowledged");
            await StopAsync(cts, run);
        }

        done.Keys.Should().BeEquivalentTo(ids);
        restarted.GetStatistics().Redelivered.Should().Be(4, "the restarted consumer first took back its own four pending messages");
        ids.Take(4).Should().OnlyContain(id => done[id] == 2, "their second delivery");
        ids.Skip(4).Should().OnlyContain(id => done[id] == 1);
    }

    [Fact]
    public async Task RunAsync_JobsParked_UnacknowledgedPerConsumerNeverExceedsQueueCapacityPlusMaxWorkers()
    {
        const int Bound = 3 + 2;
        RedisStreamOptions options = Options();
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync(Enumerable.Range(0, 30));
        var gates = new ConcurrentQueue<TaskCompletionSource>();
        var worker = new RedisStreamWorker<int, int>(
            _db,
            async (message, ct) =>
            {
                TaskCompletionSource gate = Gate();
                gates.Enqueue(gate);
                await gate.Task.WaitAsync(ct);
                return message.Job;
            },
            options,
            Pool(maxWorkers: 2, queueCapacity: 3, name: "bounded"));
        worker.MaxOutstanding.Should().Be(Bound);

        using var cts = new CancellationTokenSource();
        Task run = worker.RunAsync(cts.Token);
        long peak = 0;
        int released = 0;
        while (released < ids.Count)
        {
            // Both workers are parked on gates not yet released: nothing can be settled, so the consumer is at its bound.
            // (A count of running jobs would also count a released job whose continuation has not run yet, and its
            // gate is no longer in the queue.)
            await EventuallyAsync(() => Task.FromResult(gates.Count == 2 || gates.Count + released == ids.Count), "two jobs are parked");
            long pending = await PendingOfAsync(_db, options, "c1");
            pending.Should().BeLessThanOrEqualTo(Bound);
            peak = Math.Max(peak, pending);
            worker.GetStatistics().Outstanding.Should().BeLessThanOrEqualTo(Bound);
            gates.TryDequeue(out TaskCompletionSource? gate).Should().BeTrue();
            gate!.SetResult();
            released++;
            await EventuallyAsync(async () => await PendingOfAsync(_db, options, "c1") <= Bound, "the release is settled");
        }

        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "every message is acknowledged");
        await StopAsync(cts, run);
        peak.Should().Be(Bound, "the consumer reads up to its bound, and no further");
        worker.GetStatistics().Acknowledged.Should().Be(30);
    }

    [Fact]
    public async Task RunAsync_PayloadCannotBeRead_MessageGoesToDeadLetterStreamWithoutRunning()
    {
        RedisStreamOptions options = Options();
        string notJson = (await _db.StreamAddAsync(options.StreamKey, "job", "{not json")).ToString();
        string noField = (await _db.StreamAddAsync(options.StreamKey, "other", "1")).ToString();
        string nullJob = (await _db.StreamAddAsync(options.StreamKey, "job", "null")).ToString();
        string good = await new RedisStreamPublisher<string>(_db, options).PublishAsync("fine");
        var ran = new ConcurrentBag<string>();
        var worker = new RedisStreamWorker<string, int>(
            _db,
            (message, _) =>
            {
                ran.Add(message.Id);
                return ValueTask.FromResult(message.Job.Length);
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 1, name: "bad-input"));
        using var cts = new CancellationTokenSource();
        Task run = worker.RunAsync(cts.Token);
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "every message is acknowledged or dead-lettered");
        run.IsCompleted.Should().BeFalse("bad input is never a reason to stop");
        await StopAsync(cts, run);

        ran.Should().Equal(good);
        Dictionary<string, string> reasons = (await _db.StreamRangeAsync(options.StreamKey + ":dead-letter"))
            .ToDictionary(e => e["id"].ToString(), e => e["reason"].ToString());
        reasons.Keys.Should().BeEquivalentTo([notJson, noField, nullJob]);
        reasons[notJson].Should().Contain("could not be deserialized").And.Contain("JsonException");
        reasons[noField].Should().Contain("no 'job' field");
        reasons[nullJob].Should().Contain("JSON null");
    }

    [Fact]
    public async Task RunAsync_ConnectionKilledMidRun_ReconnectsAndLosesNothing()
    {
        RedisStreamOptions options = Options();
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync(Enumerable.Range(0, 40));
        using ConnectionMultiplexer workerConnection = redis.Server.Connect();
        string workerClient = $"worker-{Guid.NewGuid():N}";
        await workerConnection.GetDatabase().ExecuteAsync("CLIENT", "SETNAME", workerClient);
        TaskCompletionSource firstStarted = Gate();
        TaskCompletionSource connectionKilled = Gate();
        var done = new ConcurrentDictionary<string, int>();
        var worker = new RedisStreamWorker<int, int>(
            workerConnection.GetDatabase(),
            async (message, ct) =>
            {
                firstStarted.TrySetResult();
                await connectionKilled.Task.WaitAsync(ct);
                done.AddOrUpdate(message.Id, 1, (_, n) => n + 1);
                return message.Job;
            },
            options,
            Pool(maxWorkers: 2, queueCapacity: 4, name: "reconnect"));
        using var cts = new CancellationTokenSource();
        Task run = worker.RunAsync(cts.Token);
        await firstStarted.Task;

        // Kill every connection of the worker's multiplexer (not the test's own): reads and acknowledgements fail
        // until the client has reconnected.
        long killed = 0;
        foreach (ClientInfo client in await redis.Connection.GetServer(redis.Server.Endpoint).ClientListAsync())
        {
            if (client.Name == workerClient)
            {
                killed += (long)await _db.ExecuteAsync("CLIENT", "KILL", "ID", client.Id);
            }
        }

        killed.Should().BeGreaterThan(0);
        connectionKilled.SetResult();
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "every message is acknowledged after the reconnect");
        run.IsCompleted.Should().BeFalse("the worker survives a dropped connection");
        await StopAsync(cts, run);

        done.Keys.Should().BeEquivalentTo(ids, "nothing is lost");
        worker.GetStatistics().Acknowledged.Should().Be(40);
    }

    [Fact]
    public async Task RunAsync_ServerBusyRunningAScript_WaitsUntilTheScriptIsKilledAndGoesOn()
    {
        RedisStreamOptions options = Options();
        var publisher = new RedisStreamPublisher<int>(_db, options);
        FaultyDatabase database = FaultyDatabase.Over(_db);
        var worker = new RedisStreamWorker<int, int>(
            database.AsDatabase(),
            (message, _) => ValueTask.FromResult(message.Job),
            options,
            Pool(maxWorkers: 2, queueCapacity: 4, name: "busy-server"));
        using var cts = new CancellationTokenSource();
        Task run = worker.RunAsync(cts.Token);
        await publisher.PublishAsync(1);
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "the first message is acknowledged");

        // A script that never ends, from its own connection: past lua-time-limit, Redis answers every other
        // command with BUSY until the script is killed, as it does for a long script in production.
        Task<RedisServerException> refused = database.NextRefusal();
        await _db.ExecuteAsync("CONFIG", "SET", "lua-time-limit", "10");
        using ConnectionMultiplexer scriptConnection = redis.Server.Connect();
        Task endless = scriptConnection.GetDatabase().ScriptEvaluateAsync("while true do end");
        try
        {
            (await refused.WaitAsync(TimeSpan.FromSeconds(15))).Kind.Should().Be(RedisErrorKind.Busy);
        }
        finally
        {
            await EventuallyAsync(() => AnswersAsync(_db, "SCRIPT", "KILL"), "the script is killed");
            await endless.ContinueWith(static _ => { }, TaskScheduler.Default);
            await EventuallyAsync(() => AnswersAsync(_db, "PING"), "the server answers again");
            await _db.ExecuteAsync("CONFIG", "SET", "lua-time-limit", "5000");
        }

        await publisher.PublishAsync(2);
        Task acknowledged = EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "the message published after the script is acknowledged");
        await Task.WhenAny(acknowledged, run);
        run.Exception?.InnerException.Should().BeNull("BUSY is a passing state of the server, not a reason to stop");
        run.IsCompleted.Should().BeFalse();
        await acknowledged;
        await StopAsync(cts, run);
        worker.GetStatistics().Acknowledged.Should().Be(2);
    }

    /// <summary>Whether the server runs the command, rather than refuse it (NOTBUSY, BUSY).</summary>
    private static async Task<bool> AnswersAsync(IDatabase db, string command, params object[] args)
    {
        try
        {
            await db.ExecuteAsync(command, args);
            return true;
        }
        catch (RedisServerException)
        {
            return false;
        }
    }

    [Fact]
    public async Task RunAsync_ServerGoneLongerThanRetryTimeout_FailsWithTheConnectionErrorAndLeavesMessagesPending()
    {
        using RedisServer server = RedisServer.Start();
        using ConnectionMultiplexer connection = server.Connect();
        RedisStreamOptions options = Options();
        options.ConnectionRetryTimeout = TimeSpan.FromMilliseconds(300);
        await new RedisStreamPublisher<int>(connection.GetDatabase(), options).PublishManyAsync([1, 2, 3]);
        var done = new ConcurrentBag<int>();
        var worker = new RedisStreamWorker<int, int>(
            connection.GetDatabase(),
            (message, _) =>
            {
                done.Add(message.Job);
                return ValueTask.FromResult(0);
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 1, name: "server-gone"));
        Task run = worker.RunAsync();
        await EventuallyAsync(() => Task.FromResult(worker.GetStatistics().Acknowledged == 3), "the three jobs are acknowledged");

        server.Dispose();
        Func<Task> running = () => run.WaitAsync(TimeSpan.FromSeconds(20));
        (await running.Should().ThrowAsync<Exception>()).Which.Should().Match<Exception>(e => e is RedisConnectionException || e is RedisTimeoutException);
        done.Should().BeEquivalentTo([1, 2, 3]);
    }
}
