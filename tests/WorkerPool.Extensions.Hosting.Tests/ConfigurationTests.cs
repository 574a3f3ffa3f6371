using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WorkerPool.Extensions.Hosting.Internal;

namespace WorkerPool.Extensions.Hosting.Tests;

public sealed class ConfigurationTests
{
    [Fact]
    public async Task BindConfiguration_EveryOption_IsReadIncludingInfinite()
    {
        string name = TestHosts.UniqueName("orders");
        using IHost host = HostBinding(name, new Dictionary<string, string?>
        {
            [$"WorkerPools:{name}:MaxWorkers"] = "3",
            [$"WorkerPools:{name}:QueueCapacity"] = "5",
            [$"WorkerPools:{name}:WorkerBatchSize"] = "8",
            [$"WorkerPools:{name}:JobTimeout"] = "Infinite",
            [$"WorkerPools:{name}:ErrorMode"] = "StopOnFirstError",
            [$"WorkerPools:{name}:PreserveOrder"] = "true",
            [$"WorkerPools:{name}:ShutdownTimeout"] = "00:00:02.5",
            [$"WorkerPools:{name}:Name"] = "custom-name",
        });

        WorkerPoolOptions options = OptionsOf(host, name);

        options.MaxWorkers.Should().Be(3);
        options.QueueCapacity.Should().Be(5);
        options.WorkerBatchSize.Should().Be(8);
        options.JobTimeout.Should().Be(Timeout.InfiniteTimeSpan);
        options.ErrorMode.Should().Be(ErrorMode.StopOnFirstError);
        options.PreserveOrder.Should().BeTrue();
        options.ShutdownTimeout.Should().Be(TimeSpan.FromSeconds(2.5));
        options.Name.Should().Be("custom-name");
        host.Pool(name).Name.Should().Be("custom-name");
        await host.Pool(name).DisposeAsync();
    }

    [Theory]
    [InlineData("Infinite")]
    [InlineData("infinite")]
    [InlineData(" INFINITE ")]
    [InlineData("-00:00:00.001")]
    public void BindConfiguration_InfiniteShutdownTimeout_IsInfiniteTimeSpan(string value)
    {
        string name = TestHosts.UniqueName("orders");
        using IHost host = HostBinding(name, new Dictionary<string, string?>
        {
            [$"WorkerPools:{name}:ShutdownTimeout"] = value,
            [$"WorkerPools:{name}:JobTimeout"] = "00:00:30",
        });

        WorkerPoolOptions options = OptionsOf(host, name);

        options.ShutdownTimeout.Should().Be(Timeout.InfiniteTimeSpan);
        options.JobTimeout.Should().Be(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void BindConfiguration_NoSection_KeepsDefaultsAndNamesPoolAfterRegistration()
    {
        string name = TestHosts.UniqueName("orders");
        using IHost host = HostBinding(name);

        WorkerPoolOptions options = OptionsOf(host, name);

        options.Should().BeEquivalentTo(new WorkerPoolOptions { Name = name });
    }

    [Fact]
    public void Bind_ConfigurationSection_ReadsWithTheSameRules()
    {
        string name = TestHosts.UniqueName("orders");
        IConfiguration section = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["maxworkers"] = "2", ["jobtimeout"] = "Infinite" })
            .Build();
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddWorkerPool<string, string, TestHandler>(name).Bind(section);
        using IHost host = builder.Build();

        WorkerPoolOptions options = OptionsOf(host, name);

        options.MaxWorkers.Should().Be(2);
        options.JobTimeout.Should().Be(Timeout.InfiniteTimeSpan);
    }

    [Fact]
    public void BindConfiguration_BareNumbers_FailRatherThanReadAsDaysOrAnEnumsValue()
    {
        string name = TestHosts.UniqueName("orders");
        using IHost host = HostBinding(name, new Dictionary<string, string?>
        {
            [$"WorkerPools:{name}:JobTimeout"] = "5",
            [$"WorkerPools:{name}:ShutdownTimeout"] = "1.5",
            [$"WorkerPools:{name}:ErrorMode"] = "1",
        });

        OptionsValidationException error = BindingFailure(host, name);

        error.Failures.Should().HaveCount(3);
        error.Failures.Should().Contain(f => f.Contains($"WorkerPools:{name}:JobTimeout", StringComparison.Ordinal) && f.Contains("'5'", StringComparison.Ordinal) && f.Contains("days", StringComparison.Ordinal));
        error.Failures.Should().Contain(f => f.Contains($"WorkerPools:{name}:ShutdownTimeout", StringComparison.Ordinal) && f.Contains("'1.5'", StringComparison.Ordinal));
        error.Failures.Should().Contain(f => f.Contains($"WorkerPools:{name}:ErrorMode", StringComparison.Ordinal) && f.Contains("'1'", StringComparison.Ordinal) && f.Contains("StopOnFirstError", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Collect,StopOnFirstError")]
    [InlineData("StopOnFirstError, Collect")]
    public void BindConfiguration_ErrorModeNotExactlyOneName_Fails(string value)
    {
        string name = TestHosts.UniqueName("orders");
        using IHost host = HostBinding(name, new Dictionary<string, string?> { [$"WorkerPools:{name}:ErrorMode"] = value });

        OptionsValidationException error = BindingFailure(host, name);

        error.Failures.Should().ContainSingle().Which.Should().Contain($"WorkerPools:{name}:ErrorMode").And.Contain($"'{value}'");
    }

    [Theory]
    [InlineData("0")]
    [InlineData(" 0 ")]
    [InlineData("00:00:00")]
    public void BindConfiguration_ZeroShutdownTimeout_IsZeroInAnyUnit(string value)
    {
        string name = TestHosts.UniqueName("orders");
        using IHost host = HostBinding(name, new Dictionary<string, string?> { [$"WorkerPools:{name}:ShutdownTimeout"] = value });

        OptionsOf(host, name).ShutdownTimeout.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void BindConfiguration_ValuesThatDoNotParse_FailNamingEachKeyPathAndValue()
    {
        string name = TestHosts.UniqueName("orders");
        using IHost host = HostBinding(name, new Dictionary<string, string?>
        {
            [$"WorkerPools:{name}:MaxWorkers"] = "many",
            [$"WorkerPools:{name}:JobTimeout"] = "soon",
            [$"WorkerPools:{name}:ErrorMode"] = "Ignore",
            [$"WorkerPools:{name}:PreserveOrder"] = "yes",
            [$"WorkerPools:{name}:QueueCapacity"] = "",
            [$"WorkerPools:{name}:MaxWorker"] = "4",
        });

        OptionsValidationException error = BindingFailure(host, name);

        error.OptionsName.Should().Be(name);
        error.Failures.Should().HaveCount(6);
        error.Failures.Should().Contain(f => f.Contains($"WorkerPools:{name}:MaxWorkers", StringComparison.Ordinal) && f.Contains("'many'", StringComparison.Ordinal));
        error.Failures.Should().Contain(f => f.Contains($"WorkerPools:{name}:JobTimeout", StringComparison.Ordinal) && f.Contains("'soon'", StringComparison.Ordinal) && f.Contains("Infinite", StringComparison.Ordinal));
        error.Failures.Should().Contain(f => f.Contains($"WorkerPools:{name}:ErrorMode", StringComparison.Ordinal) && f.Contains("'Ignore'", StringComparison.Ordinal));
        error.Failures.Should().Contain(f => f.Contains($"WorkerPools:{name}:PreserveOrder", StringComparison.Ordinal) && f.Contains("'yes'", StringComparison.Ordinal));
        error.Failures.Should().Contain(f => f.Contains($"WorkerPools:{name}:QueueCapacity", StringComparison.Ordinal) && f.Contains("empty", StringComparison.Ordinal));
        error.Failures.Should().Contain(f => f.Contains($"WorkerPools:{name}:MaxWorker'", StringComparison.Ordinal) && f.Contains("not a WorkerPoolOptions setting", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ValidateOnStart_MaxWorkersZero_HostStartFailsNamingMaxWorkers()
    {
        string name = TestHosts.UniqueName("orders");
        HostApplicationBuilder builder = TestHosts.CreateBuilder(new Dictionary<string, string?>
        {
            [$"WorkerPools:{name}:MaxWorkers"] = "0",
        });
        builder.Services.AddWorkerPool<string, string, TestHandler>(name)
            .BindConfiguration($"WorkerPools:{name}")
            .ValidateOnStart();
        using IHost host = builder.Build();

        OptionsValidationException error = (await host.Invoking(h => h.StartAsync())
            .Should().ThrowAsync<OptionsValidationException>()).Which;

        error.OptionsName.Should().Be(name);
        error.Message.Should().Contain("WorkerPoolOptions.MaxWorkers must be at least 1, but was 0");
    }

    [Fact]
    public void Resolve_OptionOutOfRangeWithoutValidateOnStart_FailsAtFirstResolution()
    {
        string name = TestHosts.UniqueName("orders");
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddWorkerPool<string, string, TestHandler>(name)
            .Configure(o => o.JobTimeout = TimeSpan.Zero);
        using IHost host = builder.Build();

        FluentActions.Invoking(() => host.Pool(name))
            .Should().Throw<OptionsValidationException>().WithMessage("*JobTimeout*00:00:00*");
    }

    [Fact]
    public void Validator_OtherOptionsNames_AreSkipped()
    {
        var validator = new WorkerPoolOptionsValidator("orders");

        validator.Validate("invoices", new WorkerPoolOptions { MaxWorkers = 0 }).Skipped.Should().BeTrue();
        validator.Validate("orders", new WorkerPoolOptions { MaxWorkers = 0 }).Failed.Should().BeTrue();
        validator.Validate("orders", new WorkerPoolOptions()).Succeeded.Should().BeTrue();
    }

    [Fact]
    public void BindConfiguration_TimeProviderRegistered_BindingKeepsIt()
    {
        string name = TestHosts.UniqueName("orders");
        var clock = new FakeTimeProvider();
        HostApplicationBuilder builder = TestHosts.CreateBuilder(new Dictionary<string, string?>
        {
            [$"WorkerPools:{name}:MaxWorkers"] = "3",
        });
        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.Services.AddWorkerPool<string, string, TestHandler>(name).BindConfiguration($"WorkerPools:{name}");
        using IHost host = builder.Build();

        WorkerPoolOptions options = OptionsOf(host, name);

        options.MaxWorkers.Should().Be(3);
        options.TimeProvider.Should().BeSameAs(clock);
    }

    [Fact]
    public void BindConfiguration_TimeProviderKey_FailsSayingItIsSetInCode()
    {
        string name = TestHosts.UniqueName("orders");
        using IHost host = HostBinding(name, new Dictionary<string, string?>
        {
            [$"WorkerPools:{name}:TimeProvider"] = "System",
        });

        OptionsValidationException error = BindingFailure(host, name);

        error.Failures.Should().ContainSingle().Which.Should().Contain($"WorkerPools:{name}:TimeProvider").And.Contain("cannot be set from configuration");
    }

    [Fact]
    public void ConfigurationReader_Keys_CoverEveryPublicSettableOptionThatIsNotCode()
    {
        // A delegate (JobFormatter) and a clock (TimeProvider) are code, set in code; everything else must be settable
        // from configuration.
        string[] settable = typeof(WorkerPoolOptions)
            .GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.SetMethod is { IsPublic: true } && !typeof(Delegate).IsAssignableFrom(p.PropertyType) && p.PropertyType != typeof(TimeProvider))
            .Select(p => p.Name)
            .ToArray();

        WorkerPoolConfigurationReader.Keys.Should().BeEquivalentTo(settable, "every option that is not code can be set from configuration");
    }

    /// <summary>A host whose pool <paramref name="name"/> binds the section <c>WorkerPools:</c><paramref name="name"/> of <paramref name="settings"/>.</summary>
    private static IHost HostBinding(string name, IDictionary<string, string?>? settings = null)
    {
        HostApplicationBuilder builder = TestHosts.CreateBuilder(settings);
        builder.Services.AddWorkerPool<string, string, TestHandler>(name).BindConfiguration($"WorkerPools:{name}");
        return builder.Build();
    }

    /// <summary>The options of pool <paramref name="name"/>, as the pool gets them.</summary>
    private static WorkerPoolOptions OptionsOf(IHost host, string name) =>
        host.Services.GetRequiredService<IOptionsMonitor<WorkerPoolOptions>>().Get(name);

    /// <summary>The failure that getting the options of pool <paramref name="name"/> must throw.</summary>
    private static OptionsValidationException BindingFailure(IHost host, string name) =>
        FluentActions.Invoking(() => OptionsOf(host, name)).Should().Throw<OptionsValidationException>().Which;
}
