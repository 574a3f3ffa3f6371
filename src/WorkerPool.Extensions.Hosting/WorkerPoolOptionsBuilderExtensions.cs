using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using WorkerPool;
using WorkerPool.Extensions.Hosting.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Binds <see cref="WorkerPoolOptions"/> from configuration, taking <c>Infinite</c> for the timeouts.
/// </summary>
/// <remarks>
/// These methods have the names and parameters of the general <c>BindConfiguration</c> and <c>Bind</c> of
/// Microsoft.Extensions.Options.ConfigurationExtensions, and live in the same namespace. For an
/// <c>OptionsBuilder&lt;WorkerPoolOptions&gt;</c> the compiler prefers them, being non-generic, so
/// <c>services.AddWorkerPool&lt;...&gt;("orders").BindConfiguration("WorkerPools:orders")</c> binds with these rules.
/// </remarks>
public static class WorkerPoolOptionsBuilderExtensions
{
    /// <summary>
    /// Sets the options from the configuration section at <paramref name="configSectionPath"/> of the application's
    /// <see cref="IConfiguration"/>, each time the options are built.
    /// </summary>
    /// <param name="optionsBuilder">The options builder returned by <c>AddWorkerPool</c>.</param>
    /// <param name="configSectionPath">The path of the section, such as <c>"WorkerPools:orders"</c>.</param>
    /// <returns>The options builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="optionsBuilder"/> or <paramref name="configSectionPath"/> is <see langword="null"/>.</exception>
    /// <remarks>
    /// <para>
    /// The keys are the option names (<c>MaxWorkers</c>, <c>QueueCapacity</c>, <c>WorkerBatchSize</c>, <c>JobTimeout</c>, <c>ErrorMode</c>,
    /// <c>PreserveOrder</c>, <c>ShutdownTimeout</c>, <c>Name</c>), in any case. A time is a <see cref="TimeSpan"/> in
    /// the invariant format (<c>"00:00:30"</c>, <c>"1.00:00:00"</c>), or <c>"Infinite"</c> for
    /// <see cref="Timeout.InfiniteTimeSpan"/>. Options absent from the section, or <c>null</c> there, keep their value.
    /// <see cref="WorkerPoolOptions.JobFormatter"/> and <see cref="WorkerPoolOptions.TimeProvider"/> are set in code and keep
    /// theirs too; a <c>TimeProvider</c> key is an error.
    /// </para>
    /// <para>
    /// When the options are built, a key that is not an option, an empty value, or a value that does not parse fails with
    /// an <see cref="OptionsValidationException"/> naming each such key with its path and value; a value that parses but is
    /// out of range fails the pool's own validation. With <c>ValidateOnStart()</c>, both fail the host's start.
    /// </para>
    /// </remarks>
    public static OptionsBuilder<WorkerPoolOptions> BindConfiguration(
        this OptionsBuilder<WorkerPoolOptions> optionsBuilder,
        string configSectionPath)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        ArgumentNullException.ThrowIfNull(configSectionPath);
        return ConfigurationBinding.BindConfiguration(optionsBuilder, configSectionPath, WorkerPoolConfigurationReader.Read);
    }

    /// <summary>
    /// Sets the options from <paramref name="config"/>, each time the options are built, with the rules of
    /// <see cref="BindConfiguration"/>.
    /// </summary>
    /// <param name="optionsBuilder">The options builder returned by <c>AddWorkerPool</c>.</param>
    /// <param name="config">The configuration section holding the options.</param>
    /// <returns>The options builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="optionsBuilder"/> or <paramref name="config"/> is <see langword="null"/>.</exception>
    public static OptionsBuilder<WorkerPoolOptions> Bind(this OptionsBuilder<WorkerPoolOptions> optionsBuilder, IConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        ArgumentNullException.ThrowIfNull(config);
        return ConfigurationBinding.Bind(optionsBuilder, config, WorkerPoolConfigurationReader.Read);
    }
}
