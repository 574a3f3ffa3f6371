using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace WorkerPool.Redis.Hosting.Internal;

/// <summary>
/// Reports one registered worker: Healthy while it runs, Degraded while it waits to run again after Redis was
/// unreachable, and the registration's failure status (Unhealthy by default) before it has started, once it has
/// stopped, and once it has failed. Its counters are in the result's data.
/// </summary>
internal sealed class RedisStreamWorkerHealthCheck(string workerName, IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        RedisStreamWorkerState state = services.GetKeyedService<RedisStreamWorkerState>(workerName)
            ?? throw new InvalidOperationException($"No Redis stream worker named '{workerName}' is registered: call AddRedisStreamWorker with that name.");
        RedisStreamWorkerState.Snapshot current = state.Current;
        RedisStreamStatistics statistics = state.GetStatistics() ?? default;
        var data = new Dictionary<string, object>
        {
            ["Status"] = current.Status.ToString(),
            [nameof(RedisStreamWorkerState.Snapshot.Restarts)] = current.Restarts,
            [nameof(RedisStreamWorkerState.MaxOutstanding)] = state.MaxOutstanding,
            [nameof(RedisStreamStatistics.Outstanding)] = statistics.Outstanding,
            [nameof(RedisStreamStatistics.Read)] = statistics.Read,
            [nameof(RedisStreamStatistics.Redelivered)] = statistics.Redelivered,
            [nameof(RedisStreamStatistics.Reclaimed)] = statistics.Reclaimed,
            [nameof(RedisStreamStatistics.Acknowledged)] = statistics.Acknowledged,
            [nameof(RedisStreamStatistics.Retried)] = statistics.Retried,
            [nameof(RedisStreamStatistics.DeadLettered)] = statistics.DeadLettered,
        };

        string prefix = $"Redis stream worker '{workerName}'";
        HealthCheckResult result = current.Status switch
        {
            RedisStreamWorkerStatus.Running => HealthCheckResult.Healthy(
                $"{prefix} is running: it holds {statistics.Outstanding} of at most {state.MaxOutstanding} messages.", data),
            RedisStreamWorkerStatus.WaitingToRestart => HealthCheckResult.Degraded(
                $"{prefix} waits to run again at {current.RestartAt:O}: Redis was unreachable or in a passing state for longer than ConnectionRetryTimeout ({Describe(current.Error)}).", current.Error, data),
            RedisStreamWorkerStatus.Failed => new HealthCheckResult(
                context.Registration.FailureStatus, $"{prefix} has stopped on an error and does not run again: {Describe(current.Error)}.", current.Error, data),
            RedisStreamWorkerStatus.Stopped => new HealthCheckResult(
                context.Registration.FailureStatus, $"{prefix} has stopped with the host.", data: data),
            _ => new HealthCheckResult(context.Registration.FailureStatus, $"{prefix} has not started.", data: data),
        };
        return Task.FromResult(result);
    }

    private static string Describe(Exception? error) => error is null ? "no error" : $"{error.GetType().Name}: {error.Message}";
}
