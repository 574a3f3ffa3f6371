using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using StackExchange.Redis;
using static WorkerPool.Redis.Tests.TestSupport;

namespace WorkerPool.Redis.Tests;

/// <summary>One worker, or one source, run again after a run ended: however it ended, the next run starts clean.</summary>
[Collection(RedisServerDefinition.Name)]
public sealed class RedisStreamWorkerRestartTests(RedisFixture redis)
{
    private readonly IDatabase _db = redis.Connection.GetDatabase();

    [Fact]
    public async Task GetAsyncEnumerator_DisposedBeforeItsFirstMove_TheSourceCanBeEnumeratedAgain()
    {
        RedisStreamOptions options = Options();
        await new RedisStreamPublisher<int>(_db, options).PublishAsync(7);
        var source = new RedisStreamSource<int>(_db, maxOutstanding: 4, options);

        await source.GetAsyncEnumerator().DisposeAsync();

        await using IAsyncEnumerator<RedisStreamMessage<int>> again = source.GetAsyncEnumerator();
        (await again.MoveNextAsync()).Should().BeTrue();
        again.Current.Job.Should().Be(7);
    }

    [Fact]
    public async Task GetAsyncEnumerator_FirstEnumeratorDisposedTwice_DoesNotEndTheSecondEnumeration()
    {
        RedisStreamOptions options = Options();
        var source = new RedisStreamSource<int>(_db, maxOutstanding: 4, options);
        IAsyncEnumerator<RedisStreamMessage<int>> first = source.GetAsyncEnumerator();
        await first.DisposeAsync();
        await using IAsyncEnumerator<RedisStreamMessage<int>> second = source.GetAsyncEnumerator();

        await first.DisposeAsync();

        Action third = () => source.GetAsyncEnumerator();
        third.Should().Throw<InvalidOperationException>().WithMessage("*already being enumerated*");
    }

    [Fact]
    public async Task GetAsyncEnumerator_DeadLetterRefusedWhileReading_TheNextEnumerationDeadLettersTheMessage()
    {
        RedisStreamOptions options = await Options().RefusingDeadLettersAsync(_db);
        options.MaxDeliveries = 5; // an unreadable payload is dead-lettered on any delivery
        await _db.StreamAddAsync(options.StreamKey, options.PayloadField, "not json");
        await new RedisStreamPublisher<int>(_db, options).PublishAsync(7);
        var source = new RedisStreamSource<int>(_db, maxOutstanding: 4, options);
        await using (IAsyncEnumerator<RedisStreamMessage<int>> first = source.GetAsyncEnumerator())
        {
            Func<Task> reading = async () => await first.MoveNextAsync();
            await reading.Should().ThrowAsync<RedisServerException>();
        }

        source.GetStatistics().Outstanding.Should().Be(0, "a message whose settlement failed is not held");
        await _db.KeyDeleteAsync(options.DeadLetterStreamKey);
        await using IAsyncEnumerator<RedisStreamMessage<int>> second = source.GetAsyncEnumerator();
        (await second.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15))).Should().BeTrue();

        second.Current.Job.Should().Be(7);
        (await _db.StreamLengthAsync(options.DeadLetterStreamKey)).Should().Be(1, "the own-pending pass, which yielded 7, dead-lettered the unreadable entry first");
        source.GetStatistics().Outstanding.Should().Be(1, "only the yielded message is held");
    }

    [Fact]
    public async Task CompleteAsync_DeadLetterRefused_TheMessageIsLetGoAndTheNextEnumerationDeadLettersIt()
    {
        RedisStreamOptions options = await Options().RefusingDeadLettersAsync(_db);
        await new RedisStreamPublisher<int>(_db, options).PublishAsync(7);
        var source = new RedisStreamSource<int>(_db, maxOutstanding: 4, options);
        await using (IAsyncEnumerator<RedisStreamMessage<int>> first = source.GetAsyncEnumerator())
        {
            (await first.MoveNextAsync()).Should().BeTrue();
            var outcome = new JobResult<RedisStreamMessage<int>, int>(0, first.Current, JobStatus.Failed, 0, new InvalidOperationException("boom"), TimeSpan.Zero);
            Func<Task> settling = () => source.CompleteAsync(outcome);
            await settling.Should().ThrowAsync<RedisServerException>();
            source.GetStatistics().Outstanding.Should().Be(0, "a message whose settlement failed is not held");
        }

        await _db.KeyDeleteAsync(options.DeadLetterStreamKey);
        using var cts = new CancellationTokenSource();
        await using IAsyncEnumerator<RedisStreamMessage<int>> second = source.GetAsyncEnumerator(cts.Token);
        Task<bool> reading = second.MoveNextAsync().AsTask();

        // Pending, delivered again past MaxDeliveries: the own-pending pass dead-letters it rather than skip it as held.
        await EventuallyAsync(async () => await _db.StreamLengthAsync(options.DeadLetterStreamKey) == 1, "the message is dead-lettered");
        await cts.CancelAsync();
        Func<Task> ending = () => reading.WaitAsync(TimeSpan.FromSeconds(15));
        await ending.Should().ThrowAsync<OperationCanceledException>();
        (await PendingOfAsync(_db, options, "c1")).Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_CancelledAsSoonAsItStarted_TheSameWorkerRunsAgainAndProcessesEverything()
    {
        RedisStreamOptions options = Options();
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync([1, 2, 3]);
        var done = new ConcurrentBag<string>();
        var worker = new RedisStreamWorker<int, int>(
            _db,
            (message, _) =>
            {
                done.Add(message.Id);
                return ValueTask.FromResult(message.Job);
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 1, name: "restart-at-once"));
        using (var cts = new CancellationTokenSource())
        {
            Task first = worker.RunAsync(cts.Token);
            await cts.CancelAsync();
            Func<Task> stopping = () => first;
            await stopping.Should().ThrowAsync<OperationCanceledException>();
        }

        using (var cts = new CancellationTokenSource())
        {
            Task second = worker.RunAsync(cts.Token);
            await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "the second run acknowledges every message");
            await StopAsync(cts, second);
        }

        done.Should().BeEquivalentTo(ids);
        worker.GetStatistics().Outstanding.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_FailedForLackOfAConnection_TheSameWorkerRunsAgainAndSettlesWhatItHeld()
    {
        RedisStreamOptions options = Options();
        options.ConnectionRetryTimeout = TimeSpan.FromMilliseconds(100);
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, options).PublishManyAsync(Enumerable.Range(0, 6));
        FaultyDatabase database = FaultyDatabase.Over(_db);
        TaskCompletionSource release = Gate();
        var done = new ConcurrentDictionary<string, int>();
        var worker = new RedisStreamWorker<int, int>(
            database.AsDatabase(),
            async (message, _) =>
            {
                await release.Task;
                done.AddOrUpdate(message.Id, 1, (_, n) => n + 1);
                return message.Job;
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 1, name: "restart-after-failure"));

        database.FailAcknowledgements = true;
        Task first = worker.RunAsync();
        await EventuallyAsync(() => Task.FromResult(worker.GetStatistics().Outstanding == 2), "the worker holds its bound of two messages");
        release.SetResult();
        Func<Task> failing = () => first;
        await failing.Should().ThrowAsync<RedisConnectionException>();

        worker.GetStatistics().Outstanding.Should().Be(0, "a run that ended holds nothing: its messages stay pending in Redis");
        database.FailAcknowledgements = false;
        using var cts = new CancellationTokenSource();
        Task second = worker.RunAsync(cts.Token);
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "the second run acknowledges every message");
        await StopAsync(cts, second);

        done.Keys.Should().BeEquivalentTo(ids);
        worker.GetStatistics().Outstanding.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_StoppedWhileAReadIsInFlight_EndsOnceTheReadReturnedAndTheNextRunRunsWhatItRead()
    {
        RedisStreamOptions options = Options();
        FaultyDatabase database = FaultyDatabase.Over(_db);
        var done = new ConcurrentBag<string>();
        var logs = new WarningLog();
        var worker = new RedisStreamWorker<int, int>(
            database.AsDatabase(),
            (message, _) =>
            {
                done.Add(message.Id);
                return ValueTask.FromResult(message.Job);
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 1, name: "restart-after-read"),
            loggerFactory: logs);
        (TaskCompletionSource readStarted, TaskCompletionSource releaseRead) = database.HoldNextRead();

        string id;
        using (var cts = new CancellationTokenSource())
        {
            Task first = worker.RunAsync(cts.Token);
            await readStarted.Task.WaitAsync(TimeSpan.FromSeconds(15));
            id = await new RedisStreamPublisher<int>(_db, options).PublishAsync(42);
            await cts.CancelAsync();

            // The read returns the message after the stop: the run owns that read, and ends only once it has returned.
            Task stoppedOrNot = await Task.WhenAny(first, Task.Delay(50));
            stoppedOrNot.Should().NotBe(first, "the read is still in flight");
            releaseRead.SetResult();
            Func<Task> stopping = () => first;
            await stopping.Should().ThrowAsync<OperationCanceledException>();
        }

        logs.Warnings.Should().BeEmpty("a stopped source hands over nothing it reads after the stop: it stays pending");
        (await PendingOfAsync(_db, options, "c1")).Should().Be(1, "the read delivered the message, and nobody settled it");
        worker.GetStatistics().Outstanding.Should().Be(0);
        using (var cts = new CancellationTokenSource())
        {
            Task second = worker.RunAsync(cts.Token);
            await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "the second run acknowledges the message");
            await StopAsync(cts, second);
        }

        done.Should().Equal(id);
    }

    [Fact]
    public async Task RunAsync_CancelledWhileAnAcknowledgementWaitsForTheConnection_EndsWithoutWaitingForIt()
    {
        RedisStreamOptions options = Options();
        options.ConnectionRetryTimeout = Timeout.InfiniteTimeSpan;
        await new RedisStreamPublisher<int>(_db, options).PublishAsync(1);
        FaultyDatabase database = FaultyDatabase.Over(_db);
        var worker = new RedisStreamWorker<int, int>(
            database.AsDatabase(),
            (message, _) => ValueTask.FromResult(message.Job),
            options,
            Pool(maxWorkers: 1, queueCapacity: 1, name: "stop-while-acknowledging"));
        database.FailAcknowledgements = true;
        TaskCompletionSource acknowledging = database.NextAcknowledgement();
        using var cts = new CancellationTokenSource();
        Task run = worker.RunAsync(cts.Token);
        await acknowledging.Task.WaitAsync(TimeSpan.FromSeconds(15));

        await cts.CancelAsync();

        Func<Task> stopping = () => run.WaitAsync(TimeSpan.FromSeconds(15));
        OperationCanceledException canceled = (await stopping.Should().ThrowAsync<OperationCanceledException>()).Which;
        canceled.CancellationToken.Should().Be(cts.Token, "the caller's cancellation stopped the run");
        (await PendingOfAsync(_db, options, "c1")).Should().Be(1, "an outcome that could not be settled leaves its message pending");
        worker.GetStatistics().Outstanding.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_CallerCancelsWhileTheHeartbeatsStopIsBeingSettled_EndsWithTheCallersCancellation()
    {
        RedisStreamOptions options = HeartbeatGivesUpQuicklyOptions();
        await new RedisStreamPublisher<int>(_db, options).PublishManyAsync([1, 2]);
        FaultyDatabase database = FaultyDatabase.Over(_db);
        TaskCompletionSource started = Gate();
        var worker = new RedisStreamWorker<int, int>(
            database.AsDatabase(),
            async (message, ct) =>
            {
                // Finishes as the stop comes: its success is one of the outcomes settled after the stop.
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                return message.Job;
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 1, name: "caller-cancels-after-heartbeat"));
        (TaskCompletionSource sent, TaskCompletionSource release) = database.HoldNextAcknowledgement();
        using var cts = new CancellationTokenSource();
        Task run = worker.RunAsync(cts.Token);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await EventuallyAsync(() => Task.FromResult(worker.GetStatistics().Outstanding == 2), "the pool is full");

        database.FailScripts = true;
        await sent.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await cts.CancelAsync();
        release.SetResult();

        Func<Task> stopping = () => run.WaitAsync(TimeSpan.FromSeconds(15));
        OperationCanceledException canceled = (await stopping.Should().ThrowAsync<OperationCanceledException>()).Which;
        canceled.CancellationToken.Should().Be(cts.Token, "the caller cancelled before the call ended");
    }

    [Fact]
    public async Task RunAsync_HeartbeatCannotReachRedisPastTheRetryTimeout_FailsWithTheConnectionErrorAndRunsAgain()
    {
        RedisStreamOptions options = HeartbeatGivesUpQuicklyOptions();
        await new RedisStreamPublisher<int>(_db, options).PublishAsync(1);
        FaultyDatabase database = FaultyDatabase.Over(_db);
        TaskCompletionSource started = Gate();
        TaskCompletionSource release = Gate();
        var worker = new RedisStreamWorker<int, int>(
            database.AsDatabase(),
            async (message, ct) =>
            {
                started.TrySetResult();
                await release.Task.WaitAsync(ct);
                return message.Job;
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 4, name: "heartbeat-cut-off"));

        Task first = worker.RunAsync();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
        database.FailScripts = true;

        // The heartbeat keeps trying while the job holds its message, and gives up once the retry timeout has passed; the
        // source, still polling for more (its consumer has room), ends with that failure, which stops the run and cancels
        // the job. (A source that is not being read, its consumer full, sees the failure at its next step.)
        Func<Task> failing = () => first.WaitAsync(TimeSpan.FromSeconds(15));
        await failing.Should().ThrowAsync<RedisConnectionException>();
        release.SetResult();

        database.FailScripts = false;
        using var cts = new CancellationTokenSource();
        Task second = worker.RunAsync(cts.Token);
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "the second run acknowledges the message");
        await StopAsync(cts, second);
    }

    [Fact]
    public async Task RunAsync_HeartbeatGivesUpWhileThePoolIsFullAndDoesNotRead_CancelsTheJobsAndFailsWithTheConnectionError()
    {
        RedisStreamOptions options = HeartbeatGivesUpQuicklyOptions();
        await new RedisStreamPublisher<int>(_db, options).PublishAsync(1);
        await new RedisStreamPublisher<int>(_db, options).PublishAsync(2);
        FaultyDatabase database = FaultyDatabase.Over(_db);
        TaskCompletionSource started = Gate();
        TaskCompletionSource canceled = Gate();
        TaskCompletionSource release = Gate();
        bool blocking = true;
        var worker = new RedisStreamWorker<int, int>(
            database.AsDatabase(),
            async (message, ct) =>
            {
                if (Volatile.Read(ref blocking))
                {
                    started.TrySetResult();
                    try
                    {
                        await release.Task.WaitAsync(ct);
                    }
                    catch (OperationCanceledException) when (ct.IsCancellationRequested)
                    {
                        canceled.TrySetResult();
                        throw;
                    }
                }

                return message.Job;
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 1, name: "heartbeat-full"));

        Task first = worker.RunAsync();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await EventuallyAsync(() => Task.FromResult(worker.GetStatistics().Outstanding == 2), "the worker holds both messages");
        database.FailScripts = true;

        // One job runs and the other waits in the queue, so the pool does not read from the source; the heartbeat cannot
        // restart the messages' idle time, and another consumer may take them over. Once it gives up, the worker stops
        // the run: the running job is cancelled instead of racing a takeover, and the call ends with the failure.
        await canceled.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Func<Task> failing = () => first.WaitAsync(TimeSpan.FromSeconds(15));
        await failing.Should().ThrowAsync<RedisConnectionException>();
        worker.GetStatistics().Outstanding.Should().Be(0, "an ended run lets go of what it held");
        (await PendingOfAsync(_db, options, "c1")).Should().Be(2, "messages whose jobs did not succeed stay pending");

        database.FailScripts = false;
        Volatile.Write(ref blocking, false);
        using var cts = new CancellationTokenSource();
        Task second = worker.RunAsync(cts.Token);
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, options), "the second run acknowledges both messages");
        await StopAsync(cts, second);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunAsync_StoppedWhileAJobsCancellationCallbackBlocks_EndsWithoutWaitingForTheCallback(bool byHeartbeat)
    {
        // A synchronous clean-up on cancellation that takes a while (it stops a child process and waits, say). The job
        // ends before it blocks, so the run has nothing left to wait for.
        using var unblock = new ManualResetEventSlim();
        try
        {
            await RunOneJobAndStopAsync(
                byHeartbeat,
                onCanceled: unblock.Wait,
                cancelAsCaller: cts =>
                {
                    // Not awaited: the callback blocks the thread that cancels.
                    _ = cts.CancelAsync();
                    return Task.CompletedTask;
                });
        }
        finally
        {
            unblock.Set();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunAsync_StoppedWhileAJobsCancellationCallbackThrows_LeavesNoTaskExceptionUnobserved(bool byHeartbeat)
    {
        // Finalise what earlier tests left behind first; only this test's exception type counts below.
        CollectAndFinalize();
        var seen = new ConcurrentQueue<Exception>();
        void Record(object? sender, UnobservedTaskExceptionEventArgs e) => seen.Enqueue(e.Exception);
        TaskScheduler.UnobservedTaskException += Record;
        try
        {
            await RunOneJobAndStopAsync(
                byHeartbeat,
                onCanceled: () => throw new CallbackFailedException(),
                cancelAsCaller: async cts =>
                {
                    // The pool's link to the caller's token cancels the job inline, as a linked source would: the
                    // callback's exception reaches the caller's own cancel.
                    Func<Task> cancelling = cts.CancelAsync;
                    await cancelling.Should().ThrowAsync<AggregateException>();
                });
            for (int round = 0; round < 10 && seen.IsEmpty; round++)
            {
                await Task.Yield();
                CollectAndFinalize();
            }

            seen.Should().NotContain(
                e => e is AggregateException && ((AggregateException)e).Flatten().InnerExceptions.Any(inner => inner is CallbackFailedException),
                "the worker observes what cancelling its stop token throws, as the pool does");
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= Record;
        }
    }

    /// <summary>
    /// Runs one job whose callback on its token calls <paramref name="onCanceled"/>, stops the run once the job has
    /// started (by failing the heartbeat, or by <paramref name="cancelAsCaller"/> on the caller's token), and checks that
    /// the run ends with what stopped it once the callback was entered.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private async Task RunOneJobAndStopAsync(bool byHeartbeat, Action onCanceled, Func<CancellationTokenSource, Task> cancelAsCaller)
    {
        RedisStreamOptions options = HeartbeatGivesUpQuicklyOptions();
        await new RedisStreamPublisher<int>(_db, options).PublishAsync(1);
        FaultyDatabase database = FaultyDatabase.Over(_db);
        TaskCompletionSource started = Gate();
        TaskCompletionSource callbackEntered = Gate();
        var worker = new RedisStreamWorker<int, int>(
            database.AsDatabase(),
            async (message, ct) =>
            {
                // Not disposed: the job's own continuation, run inline by an earlier callback, could unregister it.
                TaskCompletionSource stopping = Gate();
                _ = ct.Register(() =>
                {
                    stopping.TrySetResult();
                    callbackEntered.TrySetResult();
                    onCanceled();
                });
                started.TrySetResult();
                await stopping.Task;
                ct.ThrowIfCancellationRequested();
                return message.Job;
            },
            options,
            Pool(maxWorkers: 1, queueCapacity: 1, name: "callback-on-stop"));

        using var cts = new CancellationTokenSource();
        Task run = worker.RunAsync(cts.Token);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
        if (byHeartbeat)
        {
            database.FailScripts = true;
        }
        else
        {
            await cancelAsCaller(cts);
        }

        await callbackEntered.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Func<Task> stopping = () => run.WaitAsync(TimeSpan.FromSeconds(15));
        if (byHeartbeat)
        {
            await stopping.Should().ThrowAsync<RedisConnectionException>();
        }
        else
        {
            await stopping.Should().ThrowAsync<OperationCanceledException>();
        }
    }

    private static void CollectAndFinalize()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    private sealed class CallbackFailedException : Exception
    {
    }

    /// <summary>Options whose heartbeat beats every 10 ms and gives up 100 ms after it first fails.</summary>
    private static RedisStreamOptions HeartbeatGivesUpQuicklyOptions()
    {
        RedisStreamOptions options = Options();
        options.ClaimMinIdleTime = TimeSpan.FromMilliseconds(30);
        options.ConnectionRetryTimeout = TimeSpan.FromMilliseconds(100);
        return options;
    }

    /// <summary>
    /// A database that forwards every call, but can fail acknowledgements and scripts as a lost connection would, and
    /// hold the next read of new messages until the test lets it go.
    /// </summary>
    public class FaultyDatabase : DispatchProxy
    {
        private IDatabase _inner = null!;
        private volatile bool _failAcknowledgements;
        private volatile bool _failScripts;
        private TaskCompletionSource? _acknowledging;
        private (TaskCompletionSource Started, TaskCompletionSource Release)? _heldAcknowledgement;
        private (TaskCompletionSource Started, TaskCompletionSource Release)? _heldRead;
        private TaskCompletionSource<RedisServerException>? _refused;
        private volatile bool _loseNextScriptReply;

        /// <summary>While set, scripts (the heartbeat's and the retry's claims) fail with a <see cref="RedisConnectionException"/>.</summary>
        public bool FailScripts
        {
            get => _failScripts;
            set => _failScripts = value;
        }

        /// <summary>While set, XACK fails with a <see cref="RedisConnectionException"/>.</summary>
        public bool FailAcknowledgements
        {
            get => _failAcknowledgements;
            set => _failAcknowledgements = value;
        }

        public static FaultyDatabase Over(IDatabase inner)
        {
            object proxy = Create<IDatabase, FaultyDatabase>();
            var faulty = (FaultyDatabase)proxy;
            faulty._inner = inner;
            return faulty;
        }

        public IDatabase AsDatabase() => (IDatabase)(object)this;

        /// <summary>Completes when the next XACK is attempted.</summary>
        public TaskCompletionSource NextAcknowledgement()
        {
            TaskCompletionSource attempted = Gate();
            Volatile.Write(ref _acknowledging, attempted);
            return attempted;
        }

        /// <summary>How many ids each XACK carried, in the order they were sent.</summary>
        public ConcurrentQueue<int> AcknowledgedPerCall { get; } = new();

        /// <summary>Holds the next XACK: it is sent once the second gate opens.</summary>
        public (TaskCompletionSource Started, TaskCompletionSource Release) HoldNextAcknowledgement()
        {
            (TaskCompletionSource, TaskCompletionSource) gates = (Gate(), Gate());
            _heldAcknowledgement = gates;
            return gates;
        }

        /// <summary>Holds the next XREADGROUP of new messages: it starts once the second gate opens.</summary>
        public (TaskCompletionSource Started, TaskCompletionSource Release) HoldNextRead()
        {
            (TaskCompletionSource, TaskCompletionSource) gates = (Gate(), Gate());
            _heldRead = gates;
            return gates;
        }

        /// <summary>Runs the next script, then fails it with a <see cref="RedisConnectionException"/>, as a reply lost with the connection.</summary>
        public void LoseNextScriptReply() => _loseNextScriptReply = true;

        /// <summary>Completes with the error of the next command (sent after this call) that the server refuses.</summary>
        public Task<RedisServerException> NextRefusal()
        {
            var refused = new TaskCompletionSource<RedisServerException>(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _refused, refused);
            return refused.Task;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            if (targetMethod.Name == nameof(IDatabase.StreamAcknowledgeAsync))
            {
                Interlocked.Exchange(ref _acknowledging, null)?.TrySetResult();
                if (_failAcknowledgements)
                {
                    return Task.FromException<long>(CutOff());
                }

                AcknowledgedPerCall.Enqueue(args![2] is RedisValue[] ids ? ids.Length : 1);
                if (_heldAcknowledgement is { } heldAcknowledgement)
                {
                    _heldAcknowledgement = null;
                    heldAcknowledgement.Started.TrySetResult();
                    return SendLaterAsync(heldAcknowledgement.Release.Task, () => (Task<long>)targetMethod.Invoke(_inner, args)!);
                }
            }

            if (targetMethod.Name == nameof(IDatabase.ScriptEvaluateAsync) && _failScripts)
            {
                return Task.FromException<RedisResult>(CutOff());
            }

            if (targetMethod.Name == nameof(IDatabase.ScriptEvaluateAsync) && _loseNextScriptReply)
            {
                _loseNextScriptReply = false;
                return LoseReplyAsync((Task<RedisResult>)targetMethod.Invoke(_inner, args)!);
            }

            if (targetMethod.Name == nameof(IDatabase.StreamReadGroupAsync) && args is [_, _, _, RedisValue position, ..]
                && position == StreamPosition.NewMessages && _heldRead is { } held)
            {
                _heldRead = null;
                held.Started.TrySetResult();
                return ReadLaterAsync(held.Release.Task, () => (Task<StreamEntry[]>)targetMethod.Invoke(_inner, args)!);
            }

            object? sent = targetMethod.Invoke(_inner, args);
            if (sent is Task command && Volatile.Read(ref _refused) is { } refused)
            {
                _ = command.ContinueWith(
                    done =>
                    {
                        if (done.Exception?.InnerException is RedisServerException error)
                        {
                            refused.TrySetResult(error);
                        }
                    },
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }

            return sent;
        }

        private static RedisConnectionException CutOff() =>
            new(ConnectionFailureType.SocketFailure, CommandFlags.None, "The test cut the connection.", innerException: null, CommandStatus.Sent);

        private static async Task<long> SendLaterAsync(Task release, Func<Task<long>> send)
        {
            await release;
            return await send();
        }

        private static async Task<RedisResult> LoseReplyAsync(Task<RedisResult> run)
        {
            await run;
            throw CutOff();
        }

        private static async Task<StreamEntry[]> ReadLaterAsync(Task release, Func<Task<StreamEntry[]>> read)
        {
            await release;
            return await read();
        }
    }
}
