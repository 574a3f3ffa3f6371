using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>
/// Reports one registered pool: Healthy, Degraded while its queue is full, and the registration's failure status
/// (Unhealthy by default) once it is disposed; its statistics are in the result's data.
/// </summary>
internal sealed class WorkerPoolHealthCheck(string poolName, IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        WorkerPoolRegistration registration = Find()
            ?? throw new InvalidOperationException($"No worker pool named '{poolName}' is registered: call AddWorkerPool with that name.");
        IHostedWorkerPool pool = registration.Resolve(services);
        WorkerPoolStatistics statistics = pool.GetStatistics();
        var data = new Dictionary<string, object>
        {
            [nameof(WorkerPoolStatistics.ActiveWorkers)] = statistics.ActiveWorkers,
            [nameof(WorkerPoolStatistics.PeakWorkers)] = statistics.PeakWorkers,
            [nameof(WorkerPoolStatistics.RunningJobs)] = statistics.RunningJobs,
            [nameof(WorkerPoolStatistics.QueuedJobs)] = statistics.QueuedJobs,
            [nameof(WorkerPoolStatistics.MaxWorkers)] = statistics.MaxWorkers,
            [nameof(WorkerPoolStatistics.QueueCapacity)] = statistics.QueueCapacity,
            [nameof(WorkerPoolStatistics.Succeeded)] = statistics.Succeeded,
            [nameof(WorkerPoolStatistics.Failed)] = statistics.Failed,
            [nameof(WorkerPoolStatistics.TimedOut)] = statistics.TimedOut,
            [nameof(WorkerPoolStatistics.Canceled)] = statistics.Canceled,
            [nameof(WorkerPoolStatistics.IsDraining)] = statistics.IsDraining,
            [nameof(WorkerPoolStatistics.IsDisposed)] = statistics.IsDisposed,
        };

        HealthCheckResult result;
        if (pool.IsDisposed)
        {
            result = new HealthCheckResult(context.Registration.FailureStatus, $"Worker pool '{poolName}' is disposed.", data: data);
        }
        else if (statistics.QueuedJobs >= statistics.QueueCapacity)
        {
            result = HealthCheckResult.Degraded(
                $"Worker pool '{poolName}' has a full queue: {statistics.QueuedJobs} of {statistics.QueueCapacity} jobs wait, so callers wait for room.",
                data: data);
        }
        else
        {
            result = HealthCheckResult.Healthy(
                $"Worker pool '{poolName}': {statistics.RunningJobs} of {statistics.MaxWorkers} workers busy, {statistics.QueuedJobs} of {statistics.QueueCapacity} jobs queued.",
                data);
        }

        return Task.FromResult(result);
    }

    private WorkerPoolRegistration? Find()
    {
        foreach (WorkerPoolRegistration registration in services.GetServices<WorkerPoolRegistration>())
        {
            if (string.Equals(registration.Name, poolName, StringComparison.Ordinal))
            {
                return registration;
            }
        }

        return null;
    }
}
