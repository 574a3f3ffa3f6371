using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;
using WorkerPool.Redis.Hosting.Tests.Support;
using WorkerPool.Redis.Tests;
using WorkerPool.Tests.Support;
using static WorkerPool.Redis.Tests.TestSupport;

namespace WorkerPool.Redis.Hosting.Tests;

[Collection(RedisServerDefinition.Name)]
public sealed class RedisStreamWorkerServiceCollectionExtensionsTests(RedisFixture redis)
{
    private readonly IDatabase _db = redis.Connection.GetDatabase();

    [Fact]
    public async Task AddRedisStreamWorker_JobsPublished_EachHandledInAScopeOfItsOwnAndAcknowledged()
    {
        string name = TestHosts.UniqueName("orders");
        RedisStreamOptions stream = Options();
        IReadOnlyList<string> ids = await new RedisStreamPublisher<int>(_db, stream).PublishManyAsync([1, 2, 3]);
        HostApplicationBuilder builder = TestHosts.CreateBuilder().WithConnection(redis.Connection);
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>(name).Configure(o => o.Stream.Use(stream));
        using IHost host = builder.Build();
        var probes = new ConcurrentBag<ScopeProbe>();
        var handled = new ConcurrentBag<(string Id, int Job)>();
        host.Jobs().Work = (message, probe, _) =>
        {
            probes.Add(probe);
            handled.Add((message.Id, message.Job));
            return ValueTask.FromResult(message.Job);
        };

        await host.StartAsync();
        await EventuallyAsync(() => AllAcknowledgedAsync(_db, stream), "every message is acknowledged");

        handled.Should().BeEquivalentTo(ids.Zip([1, 2, 3], (id, job) => (id, job)));
        probes.Select(p => p.Id).Should().OnlyHaveUniqueItems("each job resolves its handler in a scope of its own");
        probes.Should().OnlyContain(p => p.Disposed, "each scope is disposed when its job ends");
        // The worker counts an acknowledgement once Redis has answered the XACK, a moment after Redis shows it.
        await EventuallyAsync(
            () => Task.FromResult(host.Worker(name).GetStatistics().Acknowledged == 3),
            "the worker that counts the acknowledgements is the keyed singleton the host runs");
        await host.StopAsync().Within();
    }

    [Fact]
    public void AddRedisStreamWorker_SameNameTwice_ThrowsInvalidOperationException()
    {
        var services = new ServiceCollection();
        services.AddRedisStreamWorker<int, int, TestHandler>("orders");

        Action again = () => services.AddRedisStreamWorker<string, int, OtherHandler>("orders");

        again.Should().Throw<InvalidOperationException>().WithMessage("*'orders'*registered already*");
    }

    [Fact]
    public void AddRedisStreamWorker_TwoNames_RegistersAHostedServiceForEach()
    {
        var services = new ServiceCollection();

        services.AddRedisStreamWorker<int, int, TestHandler>("a");
        services.AddRedisStreamWorker<int, int, TestHandler>("b");

        services.Count(d => d.ServiceType == typeof(IHostedService)).Should().Be(2);
    }

    [Fact]
    public async Task StartAsync_NoConnectionMultiplexer_FailsSayingWhatToRegister()
    {
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>("orders");
        using IHost host = builder.Build();

        Func<Task> starting = () => host.StartAsync();

        (await starting.Should().ThrowAsync<InvalidOperationException>())
            .WithMessage("*'orders'*IConnectionMultiplexer*AddSingleton<IConnectionMultiplexer>*");
    }

    [Fact]
    public async Task StartAsync_OptionsOutOfRange_FailsNamingEachOptionAndItsValue()
    {
        HostApplicationBuilder builder = TestHosts.CreateBuilder().WithConnection(redis.Connection);
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>("orders").Configure(o =>
        {
            o.Stream.MaxDeliveries = 0;
            o.Pool.ErrorMode = ErrorMode.StopOnFirstError;
            o.RestartDelay = TimeSpan.Zero;
            o.Database = -2;
        });
        using IHost host = builder.Build();

        Func<Task> starting = () => host.StartAsync();

        OptionsValidationException failure = (await starting.Should().ThrowAsync<OptionsValidationException>()).Which;
        failure.OptionsName.Should().Be("orders");
        failure.Failures.Should().BeEquivalentTo(
            "Redis stream worker 'orders': RedisStreamOptions.MaxDeliveries must be at least 1, but was 0.",
            "Redis stream worker 'orders': WorkerPoolOptions.ErrorMode must be Collect for a Redis stream worker, but was StopOnFirstError: a failed job is retried or dead-lettered, never a reason to stop.",
            $"Redis stream worker 'orders': RedisStreamWorkerOptions.RestartDelay must be positive and at most {TimeSpan.FromMilliseconds(uint.MaxValue - 1)}, but was 00:00:00.",
            "Redis stream worker 'orders': RedisStreamWorkerOptions.Database must be -1 (the connection's default) or a database number, but was -2.");
    }

    [Fact]
    public async Task StartAsync_PoolOptionOutOfRange_FailsWithThePoolsOwnRule()
    {
        HostApplicationBuilder builder = TestHosts.CreateBuilder().WithConnection(redis.Connection);
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>("orders").Configure(o => o.Pool.WorkerBatchSize = 0);
        using IHost host = builder.Build();

        Func<Task> starting = () => host.StartAsync();

        (await starting.Should().ThrowAsync<OptionsValidationException>()).Which.Message.Should().Contain("WorkerBatchSize").And.Contain("0");
    }

    [Fact]
    public void Options_ContainerHasATimeProvider_StreamAndPoolTakeItAndThePoolIsNamedAfterTheWorker()
    {
        var clock = new FakeTimeProvider();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(clock);
        services.AddRedisStreamWorker<int, int, TestHandler>("orders");
        using ServiceProvider provider = services.BuildServiceProvider();

        RedisStreamWorkerOptions options = provider.GetRequiredService<IOptionsMonitor<RedisStreamWorkerOptions>>().Get("orders");

        options.Stream.TimeProvider.Should().BeSameAs(clock);
        options.Pool.TimeProvider.Should().BeSameAs(clock);
        options.Pool.Name.Should().Be("orders");
        options.RestartDelay.Should().Be(TimeSpan.FromSeconds(5));
        options.Database.Should().Be(-1);
    }

    [Fact]
    public void Options_PoolNameConfiguredBeforeTheRegistration_IsKept()
    {
        var services = new ServiceCollection();
        services.Configure<RedisStreamWorkerOptions>("orders", options => options.Pool.Name = "orders-eu");
        services.AddRedisStreamWorker<int, int, TestHandler>("orders");
        using ServiceProvider provider = services.BuildServiceProvider();

        RedisStreamWorkerOptions options = provider.GetRequiredService<IOptionsMonitor<RedisStreamWorkerOptions>>().Get("orders");

        options.Pool.Name.Should().Be("orders-eu", "the worker's name is only the default of its pool's name");
    }

    [Fact]
    public async Task AddRedisStreamWorker_SerializerRegistered_ReadsTheJobsWithIt()
    {
        string name = TestHosts.UniqueName("serializer");
        RedisStreamOptions stream = Options();
        var serializer = new DecimalTextSerializer();
        await new RedisStreamPublisher<int>(_db, stream, serializer).PublishAsync(42);
        HostApplicationBuilder builder = TestHosts.CreateBuilder().WithConnection(redis.Connection);
        builder.Services.AddSingleton<IRedisJobSerializer<int>>(serializer);
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>(name).Configure(o => o.Stream.Use(stream));
        using IHost host = builder.Build();
        var jobs = new ConcurrentBag<int>();
        host.Jobs().Work = (message, _, _) =>
        {
            jobs.Add(message.Job);
            return ValueTask.FromResult(message.Job);
        };

        await host.StartAsync();
        await host.Jobs().Handled(1).Within();

        jobs.Should().Equal(42);
        (await _db.StreamRangeAsync(stream.StreamKey)).Single()[stream.PayloadField].ToString().Should().Be("42", "the payload is plain text, which JSON would read too: the serializer's own mark proves it ran");
        serializer.Read.Should().Be(1);
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task AddRedisStreamWorker_ConnectionKeyedByTheWorkersName_IsPreferred()
    {
        string name = TestHosts.UniqueName("keyed");
        RedisStreamOptions stream = Options();
        await new RedisStreamPublisher<int>(_db, stream).PublishAsync(7);
        FaultyConnection unreachable = FaultyConnection.Over(redis.Connection);
        unreachable.Down = true;
        HostApplicationBuilder builder = TestHosts.CreateBuilder().WithConnection(unreachable.AsConnection());
        builder.Services.AddKeyedSingleton<IConnectionMultiplexer>(name, redis.Connection);
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>(name).Configure(o => o.Stream.Use(stream));
        using IHost host = builder.Build();

        await host.StartAsync();
        await host.Jobs().Handled(1).Within();

        await host.StopAsync().Within();
    }

    [Fact]
    public async Task StopAsync_JobInFlight_ReturnsOnceTheJobStoppedAndLeavesItsMessagePending()
    {
        string name = TestHosts.UniqueName("stop");
        RedisStreamOptions stream = Options();
        await new RedisStreamPublisher<int>(_db, stream).PublishAsync(1);
        HostApplicationBuilder builder = TestHosts.CreateBuilder().WithConnection(redis.Connection);
        builder.Services.AddRedisStreamWorker<int, int, TestHandler>(name).Configure(o => o.Stream.Use(stream));
        using IHost host = builder.Build();
        TaskCompletionSource started = TestExtensions.NewGate();
        bool canceled = false;
        host.Jobs().Work = async (_, _, cancellationToken) =>
        {
            started.SetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                canceled = true;
                throw;
            }

            return 0;
        };
        await host.StartAsync();
        await started.Task.Within();

        // The host's shutdown timeout is infinite: the stop returns because the worker stops, not because time ran out.
        await host.StopAsync().Within();

        canceled.Should().BeTrue("the host's stop cancels the job's token");
        (await PendingOfAsync(_db, stream, stream.ConsumerName)).Should().Be(1, "a job that did not finish leaves its message pending");
        host.Worker(name).GetStatistics().Outstanding.Should().Be(0, "the run has let go of everything it held");
        host.Log().WithId(204).Should().ContainSingle().Which.Message.Should().Contain(name);
    }

    private sealed class OtherHandler : IJobHandler<RedisStreamMessage<string>, int>
    {
        public ValueTask<int> HandleAsync(RedisStreamMessage<string> job, CancellationToken cancellationToken) => ValueTask.FromResult(0);
    }

    /// <summary>Writes a number as plain text, and counts what it reads.</summary>
    private sealed class DecimalTextSerializer : IRedisJobSerializer<int>
    {
        private int _read;

        public int Read => Volatile.Read(ref _read);

        public byte[] Serialize(int job) => Encoding.UTF8.GetBytes(job.ToString(System.Globalization.CultureInfo.InvariantCulture));

        public int Deserialize(ReadOnlyMemory<byte> payload)
        {
            Interlocked.Increment(ref _read);
            return int.Parse(Encoding.UTF8.GetString(payload.Span), System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
