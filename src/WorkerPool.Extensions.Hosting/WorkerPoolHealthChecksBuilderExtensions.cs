using Microsoft.Extensions.Diagnostics.HealthChecks;
using WorkerPool;
using WorkerPool.Extensions.Hosting.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Adds health checks of pools registered with
/// <see cref="WorkerPoolServiceCollectionExtensions.AddWorkerPool{TJob, TResult, THandler}(IServiceCollection, string)"/>.
/// </summary>
public static class WorkerPoolHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a health check, named <c>workerpool:</c> followed by <paramref name="name"/>, of the pool registered under
    /// <paramref name="name"/>. It reports <see cref="HealthStatus.Healthy"/>; <see cref="HealthStatus.Degraded"/> while
    /// the pool's queue is full (<see cref="WorkerPoolStatistics.QueuedJobs"/> has reached
    /// <see cref="WorkerPoolOptions.QueueCapacity"/>, so callers wait for room); and <paramref name="failureStatus"/> once
    /// the pool is disposed, for example when the host has stopped. The result's data holds the pool's statistics, with
    /// its <c>MaxWorkers</c> and <c>QueueCapacity</c>.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The name the pool was registered under. It may be registered after this call.</param>
    /// <param name="failureStatus">
    /// The status reported once the pool is disposed, or when the check itself fails (the pool is not registered, or its
    /// options are not valid); <see langword="null"/> for <see cref="HealthStatus.Unhealthy"/>.
    /// </param>
    /// <param name="tags">Tags to filter health checks by, or <see langword="null"/> for none.</param>
    /// <returns>The builder, to chain further checks.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <remarks>Checking a pool that has not been resolved yet builds it, as resolving it would.</remarks>
    public static IHealthChecksBuilder AddWorkerPool(
        this IHealthChecksBuilder builder,
        string name,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return builder.Add(new HealthCheckRegistration(
            "workerpool:" + name,
            services => new WorkerPoolHealthCheck(name, services),
            failureStatus,
            tags));
    }
}
