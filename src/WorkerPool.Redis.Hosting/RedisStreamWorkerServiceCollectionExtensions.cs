using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using WorkerPool;
using WorkerPool.Extensions.Hosting.Internal;
using WorkerPool.Redis;
using WorkerPool.Redis.Hosting.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers named <see cref="RedisStreamWorker{TJob, TResult}"/> instances that the host runs, and runs again after
/// Redis was unreachable.
/// </summary>
public static class RedisStreamWorkerServiceCollectionExtensions
{
    /// <summary>
    /// Registers a Redis stream worker named <paramref name="name"/>, and a hosted service that runs it while the host
    /// runs. For each message the worker creates a new asynchronous DI scope, resolves <typeparamref name="THandler"/>
    /// from it, calls <see cref="IJobHandler{TJob, TResult}.HandleAsync"/>, and disposes the scope when the job ends,
    /// however it ends; the message is acknowledged once the handler has returned.
    /// </summary>
    /// <typeparam name="TJob">The type of the jobs in the stream.</typeparam>
    /// <typeparam name="TResult">The type of the value each job produces.</typeparam>
    /// <typeparam name="THandler">
    /// The handler of one message (its job, id and delivery count). It is registered as scoped unless it is registered
    /// already, so it may depend on scoped services.
    /// </typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="name">
    /// The worker's name: the name of its options, the default of its pool's <see cref="WorkerPoolOptions.Name"/>, the
    /// name its health check takes, and the service key of the worker (resolve it with
    /// <c>GetRequiredKeyedService&lt;RedisStreamWorker&lt;TJob, TResult&gt;&gt;(name)</c> to read its statistics; the
    /// hosted service runs it, so do not call its <c>RunAsync</c>).
    /// </param>
    /// <returns>
    /// The builder of the worker's named options, to configure them: <c>.BindConfiguration("RedisWorkers:orders")</c>
    /// (which takes <c>Infinite</c> for the timeouts) or <c>.Configure(o =&gt; ...)</c>. They are validated when the host
    /// starts.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">A Redis stream worker named <paramref name="name"/> is registered already.</exception>
    /// <remarks>
    /// <para>
    /// The worker reads with the container's <see cref="IConnectionMultiplexer"/>, keyed by <paramref name="name"/> if the
    /// container has one with that key, else the one without a key, and the database
    /// <see cref="RedisStreamWorkerOptions.Database"/>. It reads the jobs with the container's
    /// <see cref="IRedisJobSerializer{TJob}"/> (keyed by <paramref name="name"/>, else without a key), or with
    /// <see cref="JsonRedisJobSerializer{TJob}"/> if there is none, and logs with the container's
    /// <see cref="ILoggerFactory"/>. If the container has a <see cref="TimeProvider"/> service, the stream's and the pool's
    /// options take it in place of the default <see cref="TimeProvider.System"/>, as <c>AddWorkerPool</c> does; a
    /// provider set in code wins.
    /// </para>
    /// <para>
    /// The host's start fails if the options are not valid (an <see cref="OptionsValidationException"/> naming the option
    /// and its value) or if there is no connection (an <see cref="InvalidOperationException"/>). Then the worker runs
    /// with the host's stopping token. When its run ends because Redis stayed unreachable for longer than
    /// <see cref="RedisStreamOptions.ConnectionRetryTimeout"/> (a <see cref="RedisConnectionException"/> or
    /// <see cref="RedisTimeoutException"/>), it logs a warning and runs again after
    /// <see cref="RedisStreamWorkerOptions.RestartDelay"/>: nothing is lost, and the new run takes back this consumer's
    /// pending messages first. When it ends on any other error (such as a dead letter that Redis refuses), it logs it as
    /// critical and does not run again: the exception ends the hosted service, and the host's
    /// <c>HostOptions.BackgroundServiceExceptionBehavior</c> applies (by default the host stops).
    /// </para>
    /// <para>
    /// When the host stops, the run is cancelled: it returns once no job and no Redis read of it is in flight. Messages
    /// whose jobs had not finished stay pending, for this consumer's next start or for a takeover by another. A handler
    /// that ignores its token is waited for up to the pool's <see cref="WorkerPoolOptions.ShutdownTimeout"/>; past it, the
    /// stop still ends the service normally, with a warning (the pool logs each such job at Error level), and the job may
    /// still run. A run that Redis's absence ended, and that then waited past that timeout, is run again as above.
    /// </para>
    /// </remarks>
    public static OptionsBuilder<RedisStreamWorkerOptions> AddRedisStreamWorker<TJob, TResult, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(
        this IServiceCollection services,
        string name)
        where THandler : class, IJobHandler<RedisStreamMessage<TJob>, TResult>
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (IsRegistered(services, name))
        {
            throw new InvalidOperationException($"A Redis stream worker named '{name}' is registered already; give each worker a name of its own.");
        }

        services.AddKeyedSingleton(name, (_, _) => new RedisStreamWorkerState(name));
        services.AddSingleton<IValidateOptions<RedisStreamWorkerOptions>>(new RedisStreamWorkerOptionsValidator(name));
        services.TryAddScoped<THandler>();
        services.AddKeyedSingleton(name, (provider, _) => CreateWorker<TJob, TResult, THandler>(provider, name));

        // Added, not TryAddEnumerable'd: each name has a service of its own, whatever its type arguments.
        services.AddSingleton<IHostedService>(provider => new RedisStreamWorkerService<TJob, TResult>(name, provider));
        return services.AddOptions<RedisStreamWorkerOptions>(name)
            .Configure<IServiceProvider>((options, provider) =>
            {
                options.Pool.Name ??= name;
                if (provider.GetService<TimeProvider>() is { } registered)
                {
                    if (options.Pool.TimeProvider == TimeProvider.System)
                    {
                        options.Pool.TimeProvider = registered;
                    }

                    if (options.Stream.TimeProvider == TimeProvider.System)
                    {
                        options.Stream.TimeProvider = registered;
                    }
                }
            })
            .ValidateOnStart();
    }

    private static RedisStreamWorker<TJob, TResult> CreateWorker<TJob, TResult, THandler>(IServiceProvider provider, string name)
        where THandler : class, IJobHandler<RedisStreamMessage<TJob>, TResult>
    {
        RedisStreamWorkerOptions options = provider.GetRequiredService<IOptionsMonitor<RedisStreamWorkerOptions>>().Get(name);
        IConnectionMultiplexer connection = provider.GetKeyedService<IConnectionMultiplexer>(name)
            ?? provider.GetService<IConnectionMultiplexer>()
            ?? throw new InvalidOperationException(
                $"The Redis stream worker '{name}' needs an {nameof(IConnectionMultiplexer)}, and the container has none: register one, such as "
                + $"services.AddSingleton<{nameof(IConnectionMultiplexer)}>(_ => ConnectionMultiplexer.Connect(\"localhost:6379,abortConnect=false\")), "
                + "or one keyed by the worker's name.");
        IRedisJobSerializer<TJob>? serializer = provider.GetKeyedService<IRedisJobSerializer<TJob>>(name) ?? provider.GetService<IRedisJobSerializer<TJob>>();
        IServiceScopeFactory scopes = provider.GetRequiredService<IServiceScopeFactory>();
        return new RedisStreamWorker<TJob, TResult>(
            connection.GetDatabase(options.Database),
            (message, cancellationToken) => ScopedJob.RunAsync<RedisStreamMessage<TJob>, TResult, THandler>(scopes, message, cancellationToken),
            options.Stream,
            options.Pool,
            serializer,
            provider.GetService<ILoggerFactory>());
    }

    private static bool IsRegistered(IServiceCollection services, string name)
    {
        foreach (ServiceDescriptor descriptor in services)
        {
            if (descriptor.IsKeyedService
                && descriptor.ServiceType == typeof(RedisStreamWorkerState)
                && Equals(descriptor.ServiceKey, name))
            {
                return true;
            }
        }

        return false;
    }
}
