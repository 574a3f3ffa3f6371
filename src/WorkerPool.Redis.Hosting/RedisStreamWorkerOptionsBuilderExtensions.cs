using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using WorkerPool.Extensions.Hosting.Internal;
using WorkerPool.Redis;
using WorkerPool.Redis.Hosting.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Binds <see cref="RedisStreamWorkerOptions"/> from configuration, taking <c>Infinite</c> for the timeouts.
/// </summary>
/// <remarks>
/// These methods have the names and parameters of the general <c>BindConfiguration</c> and <c>Bind</c> of
/// Microsoft.Extensions.Options.ConfigurationExtensions, and live in the same namespace. For an
/// <c>OptionsBuilder&lt;RedisStreamWorkerOptions&gt;</c> the compiler prefers them, being non-generic, so
/// <c>services.AddRedisStreamWorker&lt;...&gt;("orders").BindConfiguration("RedisWorkers:orders")</c> binds with these rules.
/// </remarks>
public static class RedisStreamWorkerOptionsBuilderExtensions
{
    /// <summary>
    /// Sets the options from the configuration section at <paramref name="configSectionPath"/> of the application's
    /// <see cref="IConfiguration"/>, each time the options are built.
    /// </summary>
    /// <param name="optionsBuilder">The options builder returned by <c>AddRedisStreamWorker</c>.</param>
    /// <param name="configSectionPath">The path of the section, such as <c>"RedisWorkers:orders"</c>.</param>
    /// <returns>The options builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="optionsBuilder"/> or <paramref name="configSectionPath"/> is <see langword="null"/>.</exception>
    /// <remarks>
    /// <para>
    /// The section's keys are <c>RestartDelay</c>, <c>Database</c>, and two sections: <c>Stream</c>, whose keys are the
    /// settings of <see cref="RedisStreamOptions"/> (<c>StreamKey</c>, <c>GroupName</c>, <c>ConsumerName</c>,
    /// <c>DeadLetterStreamKey</c>, <c>PayloadField</c>, <c>MaxDeliveries</c>, <c>RetryDelay</c>, <c>ClaimMinIdleTime</c>,
    /// <c>ClaimInterval</c>, <c>PollMinDelay</c>, <c>PollMaxDelay</c>, <c>ConnectionRetryTimeout</c>, <c>CreateGroup</c>),
    /// and <c>Pool</c>, whose keys are those that <c>AddWorkerPool</c>'s <c>BindConfiguration</c> reads for
    /// <see cref="WorkerPool.WorkerPoolOptions"/>. Keys are read in any case. A time is a <see cref="TimeSpan"/> in the
    /// invariant format (<c>"00:00:30"</c>), or <c>"Infinite"</c> for <see cref="Timeout.InfiniteTimeSpan"/> (which only
    /// <c>ConnectionRetryTimeout</c>, <c>JobTimeout</c> and <c>ShutdownTimeout</c> accept); a number without a colon other
    /// than <c>0</c> is an error, since it would be read as days. Options absent from the section, or <c>null</c> there,
    /// keep their value. The clocks (<c>TimeProvider</c>) and <see cref="WorkerPool.WorkerPoolOptions.JobFormatter"/> are
    /// set in code; a <c>TimeProvider</c> key is an error.
    /// </para>
    /// <para>
    /// When the options are built (at host start), a key that is not a setting, an empty value, or a value that does
    /// not parse fails with an <see cref="OptionsValidationException"/> naming each such key with its path and value; a
    /// value that parses but is out of range fails the worker's own validation.
    /// </para>
    /// </remarks>
    public static OptionsBuilder<RedisStreamWorkerOptions> BindConfiguration(
        this OptionsBuilder<RedisStreamWorkerOptions> optionsBuilder,
        string configSectionPath)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        ArgumentNullException.ThrowIfNull(configSectionPath);
        return ConfigurationBinding.BindConfiguration(optionsBuilder, configSectionPath, RedisStreamWorkerConfigurationReader.Read);
    }

    /// <summary>
    /// Sets the options from <paramref name="config"/>, each time the options are built, with the rules of
    /// <see cref="BindConfiguration"/>.
    /// </summary>
    /// <param name="optionsBuilder">The options builder returned by <c>AddRedisStreamWorker</c>.</param>
    /// <param name="config">The configuration section holding the options.</param>
    /// <returns>The options builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="optionsBuilder"/> or <paramref name="config"/> is <see langword="null"/>.</exception>
    public static OptionsBuilder<RedisStreamWorkerOptions> Bind(this OptionsBuilder<RedisStreamWorkerOptions> optionsBuilder, IConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        ArgumentNullException.ThrowIfNull(config);
        return ConfigurationBinding.Bind(optionsBuilder, config, RedisStreamWorkerConfigurationReader.Read);
    }
}
