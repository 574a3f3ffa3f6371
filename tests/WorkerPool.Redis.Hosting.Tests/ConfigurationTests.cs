using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using WorkerPool.Redis.Hosting.Internal;
using WorkerPool.Redis.Hosting.Tests.Support;

namespace WorkerPool.Redis.Hosting.Tests;

public sealed class ConfigurationTests
{
    [Fact]
    public void BindConfiguration_EveryOption_IsReadIncludingInfinite()
    {
        RedisStreamWorkerOptions options = Bind(new Dictionary<string, string?>
        {
            ["RedisWorkers:orders:RestartDelay"] = "00:00:10",
            ["RedisWorkers:orders:Database"] = "3",
            ["RedisWorkers:orders:Stream:StreamKey"] = "{orders}",
            ["RedisWorkers:orders:Stream:GroupName"] = "billing",
            ["RedisWorkers:orders:Stream:ConsumerName"] = "web-1",
            ["RedisWorkers:orders:Stream:DeadLetterStreamKey"] = "{orders}:dead",
            ["RedisWorkers:orders:Stream:PayloadField"] = "payload",
            ["RedisWorkers:orders:Stream:MaxDeliveries"] = "7",
            ["RedisWorkers:orders:Stream:RetryDelay"] = "00:00:02",
            ["RedisWorkers:orders:Stream:ClaimMinIdleTime"] = "00:01:00",
            ["RedisWorkers:orders:Stream:ClaimInterval"] = "00:00:06",
            ["RedisWorkers:orders:Stream:PollMinDelay"] = "00:00:00.010",
            ["RedisWorkers:orders:Stream:PollMaxDelay"] = "00:00:01",
            ["RedisWorkers:orders:Stream:ConnectionRetryTimeout"] = "infinite",
            ["RedisWorkers:orders:Stream:CreateGroup"] = "false",
            ["RedisWorkers:orders:pool:maxWorkers"] = "16",
            ["RedisWorkers:orders:Pool:QueueCapacity"] = "8",
            ["RedisWorkers:orders:Pool:JobTimeout"] = "Infinite",
            ["RedisWorkers:orders:Pool:ShutdownTimeout"] = "00:00:20",
            ["RedisWorkers:orders:Pool:Name"] = "orders-pool",
        });

        options.RestartDelay.Should().Be(TimeSpan.FromSeconds(10));
        options.Database.Should().Be(3);
        options.Stream.Should().BeEquivalentTo(new
        {
            StreamKey = "{orders}",
            GroupName = "billing",
            ConsumerName = "web-1",
            DeadLetterStreamKey = "{orders}:dead",
            PayloadField = "payload",
            MaxDeliveries = 7,
            RetryDelay = TimeSpan.FromSeconds(2),
            ClaimMinIdleTime = TimeSpan.FromMinutes(1),
            ClaimInterval = TimeSpan.FromSeconds(6),
            PollMinDelay = TimeSpan.FromMilliseconds(10),
            PollMaxDelay = TimeSpan.FromSeconds(1),
            ConnectionRetryTimeout = Timeout.InfiniteTimeSpan,
            CreateGroup = false,
        });
        options.Pool.Should().BeEquivalentTo(new
        {
            MaxWorkers = 16,
            QueueCapacity = 8,
            JobTimeout = Timeout.InfiniteTimeSpan,
            ShutdownTimeout = TimeSpan.FromSeconds(20),
            Name = "orders-pool",
        });
    }

    [Fact]
    public void BindConfiguration_NoSection_KeepsTheDefaults()
    {
        RedisStreamWorkerOptions options = Bind(new Dictionary<string, string?>());

        options.RestartDelay.Should().Be(TimeSpan.FromSeconds(5));
        options.Stream.StreamKey.Should().Be(new RedisStreamOptions().StreamKey);
        options.Pool.Name.Should().Be("orders");
    }

    [Fact]
    public void BindConfiguration_KeysAndValuesItCannotTake_FailNamingEachPathAndValue()
    {
        Action binding = () => Bind(new Dictionary<string, string?>
        {
            ["RedisWorkers:orders:RestartDelay"] = "5",
            ["RedisWorkers:orders:Databse"] = "1",
            ["RedisWorkers:orders:Stream:MaxDeliveries"] = "many",
            ["RedisWorkers:orders:Stream:TimeProvider"] = "system",
            ["RedisWorkers:orders:Stream:StreamKeys"] = "jobs",
            ["RedisWorkers:orders:Pool"] = "16",
        });

        OptionsValidationException failure = binding.Should().Throw<OptionsValidationException>().Which;
        failure.OptionsName.Should().Be("orders");
        failure.OptionsType.Should().Be<RedisStreamWorkerOptions>();
        failure.Failures.Should().BeEquivalentTo(
            "'RedisWorkers:orders:RestartDelay' must be a time span such as 00:00:30, or Infinite, but was '5': a number without a colon would be read as days.",
            "'RedisWorkers:orders:Databse' is not a RedisStreamWorkerOptions setting; the settings are Stream, Pool, RestartDelay, Database.",
            "'RedisWorkers:orders:Stream:MaxDeliveries' must be a whole number, but was 'many'.",
            "'RedisWorkers:orders:Stream:TimeProvider' cannot be set from configuration: RedisStreamOptions.TimeProvider is set in code, or is the container's TimeProvider service.",
            $"'RedisWorkers:orders:Stream:StreamKeys' is not a RedisStreamOptions setting; the settings are {string.Join(", ", RedisStreamOptionsReader.Keys)}.",
            "'RedisWorkers:orders:Pool' must be a section of WorkerPoolOptions settings, but was the value '16'.");
    }

    [Fact]
    public void Bind_ConfigurationSection_ReadsWithTheSameRules()
    {
        IConfiguration section = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Stream:ConnectionRetryTimeout"] = "Infinite", ["Pool:ShutdownTimeout"] = "Infinite" })
            .Build();
        var services = new ServiceCollection();
        services.AddRedisStreamWorker<int, int, TestHandler>("orders").Bind(section);
        using ServiceProvider provider = services.BuildServiceProvider();

        RedisStreamWorkerOptions options = provider.GetRequiredService<IOptionsMonitor<RedisStreamWorkerOptions>>().Get("orders");

        options.Stream.ConnectionRetryTimeout.Should().Be(Timeout.InfiniteTimeSpan);
        options.Pool.ShutdownTimeout.Should().Be(Timeout.InfiniteTimeSpan);
    }

    [Fact]
    public void Readers_Keys_CoverEveryPublicSettableOptionThatIsNotCode()
    {
        static IEnumerable<string> Settable(Type type) => type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.SetMethod?.IsPublic == true && p.PropertyType != typeof(TimeProvider))
            .Select(p => p.Name);

        RedisStreamOptionsReader.Keys.Should().BeEquivalentTo(Settable(typeof(RedisStreamOptions)));
        RedisStreamWorkerConfigurationReader.Keys.Should().BeEquivalentTo(
            Settable(typeof(RedisStreamWorkerOptions)).Concat([nameof(RedisStreamWorkerOptions.Stream), nameof(RedisStreamWorkerOptions.Pool)]));
    }

    private static RedisStreamWorkerOptions Bind(Dictionary<string, string?> configuration)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(configuration).Build());
        services.AddRedisStreamWorker<int, int, TestHandler>("orders").BindConfiguration("RedisWorkers:orders");
        using ServiceProvider provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptionsMonitor<RedisStreamWorkerOptions>>().Get("orders");
    }
}
