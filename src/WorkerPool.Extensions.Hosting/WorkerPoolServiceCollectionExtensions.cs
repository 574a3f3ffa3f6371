using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using WorkerPool;
using WorkerPool.Extensions.Hosting.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers named <see cref="BoundedWorkerPool{TJob, TResult}"/> instances with dependency injection.
/// </summary>
public static class WorkerPoolServiceCollectionExtensions
{
    /// <summary>
    /// Registers a pool named <paramref name="name"/>: a keyed singleton <see cref="BoundedWorkerPool{TJob, TResult}"/>
    /// whose work, for each job, creates a new asynchronous DI scope, resolves <typeparamref name="THandler"/> from it,
    /// calls <see cref="IJobHandler{TJob, TResult}.HandleAsync"/>, and disposes the scope when the job ends, however it ends.
    /// </summary>
    /// <typeparam name="TJob">The type of the jobs.</typeparam>
    /// <typeparam name="TResult">The type of the value each job produces.</typeparam>
    /// <typeparam name="THandler">
    /// The handler. It is registered as scoped unless it is registered already, so it may depend on scoped services.
    /// </typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="name">
    /// The pool's name: its service key (resolve it with <c>GetRequiredKeyedService&lt;BoundedWorkerPool&lt;TJob, TResult&gt;&gt;(name)</c>
    /// or <c>[FromKeyedServices(name)]</c>), the name of its options, and the default of <see cref="WorkerPoolOptions.Name"/>.
    /// </param>
    /// <returns>
    /// The builder of the pool's named options, to configure them: <c>.BindConfiguration("WorkerPools:orders")</c> (which
    /// takes <c>Infinite</c> for the timeouts), <c>.Configure(o =&gt; ...)</c>, <c>.ValidateOnStart()</c>.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="InvalidOperationException">A pool named <paramref name="name"/> is registered already.</exception>
    /// <remarks>
    /// <para>
    /// The options are validated with the pool's own rules when they are first built: at host start with
    /// <c>ValidateOnStart()</c>, otherwise when the pool is first resolved. A bad value fails with an
    /// <see cref="OptionsValidationException"/> naming the option and its value. The pool is built on first resolution,
    /// from the options as they are then; later changes of the configuration do not reach it.
    /// </para>
    /// <para>
    /// If the container has a <see cref="TimeProvider"/> service, the pool's options take it in place of the default
    /// <see cref="TimeProvider.System"/> for <see cref="WorkerPoolOptions.TimeProvider"/>, so that the pool's timeouts and
    /// times follow the application's clock (a fake one in tests). A provider set in code, with <c>.Configure(o =&gt;
    /// o.TimeProvider = ...)</c>, wins. Configuration cannot set it.
    /// </para>
    /// <para>
    /// When the host stops, once every hosted service has stopped, each pool built is drained with the host's shutdown
    /// token: runs in flight finish if they can before the host's shutdown timeout; past it they are cancelled, and the
    /// host waits until their work has stopped (at most <see cref="WorkerPoolOptions.ShutdownTimeout"/> for jobs that
    /// ignore cancellation). Then the pool is disposed.
    /// </para>
    /// </remarks>
    public static OptionsBuilder<WorkerPoolOptions> AddWorkerPool<TJob, TResult, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(
        this IServiceCollection services,
        string name)
        where THandler : class, IJobHandler<TJob, TResult>
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (WorkerPoolRegistration.Find(services, name) is not null)
        {
            throw new InvalidOperationException($"A worker pool named '{name}' is registered already; give each pool a name of its own.");
        }

        services.AddSingleton(new WorkerPoolRegistration(name, provider => Resolve<TJob, TResult>(provider, name)));
        services.TryAddSingleton<WorkerPoolTracker>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, WorkerPoolDrainService>());
        services.AddSingleton<IValidateOptions<WorkerPoolOptions>>(new WorkerPoolOptionsValidator(name));
        services.TryAddScoped<THandler>();
        services.AddKeyedSingleton(name, (provider, _) => CreatePool<TJob, TResult, THandler>(provider, name));
        return services.AddOptions<WorkerPoolOptions>(name).Configure<IServiceProvider>((options, provider) =>
        {
            options.Name ??= name;
            if (options.TimeProvider == TimeProvider.System && provider.GetService<TimeProvider>() is { } registered)
            {
                options.TimeProvider = registered;
            }
        });
    }

    private static BoundedWorkerPool<TJob, TResult> CreatePool<TJob, TResult, THandler>(IServiceProvider provider, string name)
        where THandler : class, IJobHandler<TJob, TResult>
    {
        WorkerPoolOptions options = provider.GetRequiredService<IOptionsMonitor<WorkerPoolOptions>>().Get(name);
        IServiceScopeFactory scopes = provider.GetRequiredService<IServiceScopeFactory>();
        var pool = new BoundedWorkerPool<TJob, TResult>(
            (job, cancellationToken) => ScopedJob.RunAsync<TJob, TResult, THandler>(scopes, job, cancellationToken),
            options,
            provider.GetService<ILoggerFactory>());
        provider.GetRequiredService<WorkerPoolTracker>().Add(new HostedWorkerPool<TJob, TResult>(name, pool));
        return pool;
    }

    private static IHostedWorkerPool Resolve<TJob, TResult>(IServiceProvider provider, string name)
    {
        // Resolving the keyed pool builds it if need be, and lets the container own it like any other resolution.
        _ = provider.GetRequiredKeyedService<BoundedWorkerPool<TJob, TResult>>(name);
        return provider.GetRequiredService<WorkerPoolTracker>().Find(name)
            ?? throw new InvalidOperationException($"The worker pool '{name}' was not built by this service provider.");
    }
}
