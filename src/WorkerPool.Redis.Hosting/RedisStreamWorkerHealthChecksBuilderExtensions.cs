using Microsoft.Extensions.Diagnostics.HealthChecks;
using WorkerPool.Redis;
using WorkerPool.Redis.Hosting.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Adds health checks of Redis stream workers registered with
/// <see cref="RedisStreamWorkerServiceCollectionExtensions.AddRedisStreamWorker{TJob, TResult, THandler}(IServiceCollection, string)"/>.
/// </summary>
public static class RedisStreamWorkerHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a health check, named <c>redis-stream-worker:</c> followed by <paramref name="name"/>, of the worker registered
    /// under <paramref name="name"/>. It reports <see cref="HealthStatus.Healthy"/> while the worker runs (also while it
    /// retries Redis commands within <see cref="RedisStreamOptions.ConnectionRetryTimeout"/>);
    /// <see cref="HealthStatus.Degraded"/> while it waits <see cref="RedisStreamWorkerOptions.RestartDelay"/> to run again
    /// after Redis was unreachable for longer, with that error in the description and the result; and
    /// <paramref name="failureStatus"/> before the host has started it, once the host has stopped it, and once it has
    /// stopped on an error it does not recover from (with that error). The result's data holds the worker's
    /// <see cref="RedisStreamStatistics"/> counters, its <c>MaxOutstanding</c>, its <c>Status</c> and its number of
    /// <c>Restarts</c>.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The name the worker was registered under. It may be registered after this call.</param>
    /// <param name="failureStatus">
    /// The status reported when the worker does not run (see above), or when the check itself fails (no worker has that
    /// name); <see langword="null"/> for <see cref="HealthStatus.Unhealthy"/>.
    /// </param>
    /// <param name="tags">Tags to filter health checks by, or <see langword="null"/> for none.</param>
    /// <returns>The builder, to chain further checks.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    public static IHealthChecksBuilder AddRedisStreamWorker(
        this IHealthChecksBuilder builder,
        string name,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return builder.Add(new HealthCheckRegistration(
            "redis-stream-worker:" + name,
            services => new RedisStreamWorkerHealthCheck(name, services),
            failureStatus,
            tags));
    }
}
