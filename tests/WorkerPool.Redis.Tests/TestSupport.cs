using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace WorkerPool.Redis.Tests;

internal static class TestSupport
{
    /// <summary>Options for one test: its own stream, and short delays so that retries and takeovers happen in milliseconds.</summary>
    public static RedisStreamOptions Options(string consumer = "c1") => new()
    {
        StreamKey = $"test:{Guid.NewGuid():N}",
        GroupName = "g",
        ConsumerName = consumer,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        ClaimInterval = TimeSpan.FromMilliseconds(50),
        PollMinDelay = TimeSpan.FromMilliseconds(1),
        PollMaxDelay = TimeSpan.FromMilliseconds(20),
    };

    public static RedisStreamOptions WithConsumer(this RedisStreamOptions options, string consumer) => new()
    {
        StreamKey = options.StreamKey,
        GroupName = options.GroupName,
        ConsumerName = consumer,
        DeadLetterStreamKey = options.DeadLetterStreamKey,
        MaxDeliveries = options.MaxDeliveries,
        RetryDelay = options.RetryDelay,
        ClaimMinIdleTime = options.ClaimMinIdleTime,
        ClaimInterval = options.ClaimInterval,
        PollMinDelay = options.PollMinDelay,
        PollMaxDelay = options.PollMaxDelay,
        ConnectionRetryTimeout = options.ConnectionRetryTimeout,
    };

    /// <summary>Dead letters after one delivery, to a key that holds a string: Redis refuses each one with WRONGTYPE.</summary>
    public static async Task<RedisStreamOptions> RefusingDeadLettersAsync(this RedisStreamOptions options, IDatabase db)
    {
        options.MaxDeliveries = 1;
        options.DeadLetterStreamKey = options.StreamKey + ":not-a-stream";
        await db.StringSetAsync(options.DeadLetterStreamKey, "a string, where a stream should be");
        return options;
    }

    public static WorkerPoolOptions Pool(int maxWorkers, int queueCapacity, string name) =>
        new() { MaxWorkers = maxWorkers, QueueCapacity = queueCapacity, Name = name };

    public static TaskCompletionSource Gate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Polls Redis state (where no gate can exist) until <paramref name="condition"/> holds, for at most 15 s.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var elapsed = Stopwatch.StartNew();
        while (!await condition())
        {
            if (elapsed.Elapsed > TimeSpan.FromSeconds(15))
            {
                throw new TimeoutException($"Timed out after 15 s waiting until {what}.");
            }

            await Task.Delay(5);
        }
    }

    public static async Task<long> PendingOfAsync(IDatabase db, RedisStreamOptions options, string consumer)
    {
        StreamPendingInfo info;
        try
        {
            info = await db.StreamPendingAsync(options.StreamKey, options.GroupName);
        }
        catch (RedisServerException exception) when (exception.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
        {
            // The worker creates its group when it starts: until then, nobody holds anything.
            return 0;
        }

        return info.Consumers?.FirstOrDefault(c => c.Name == consumer).PendingMessageCount ?? 0;
    }

    /// <summary>True once every entry of the stream was delivered to the group and none is pending.</summary>
    public static async Task<bool> AllAcknowledgedAsync(IDatabase db, RedisStreamOptions options)
    {
        // Before the worker has created its group, there is nothing to look at yet.
        StreamGroupInfo[] groups = await db.StreamGroupInfoAsync(options.StreamKey);
        return groups.Any(g => g.Name == options.GroupName && g.PendingMessageCount == 0 && g.Lag == 0);
    }

    public static async Task StopAsync(CancellationTokenSource cts, Task run)
    {
        await cts.CancelAsync();
        Func<Task> stopping = () => run;
        await stopping.Should().ThrowAsync<OperationCanceledException>();
    }
}

/// <summary>A logger factory that keeps every entry at Warning or above, as "EventName: message".</summary>
public sealed class WarningLog : ILoggerFactory, ILogger
{
    private readonly ConcurrentQueue<string> _warnings = new();

    public IReadOnlyCollection<string> Warnings => _warnings;

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            _warnings.Enqueue($"{eventId.Name}: {formatter(state, exception)}");
        }
    }
}
