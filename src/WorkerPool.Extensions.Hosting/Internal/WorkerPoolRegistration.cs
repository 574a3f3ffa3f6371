using Microsoft.Extensions.DependencyInjection;

namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>
/// Registered once per <c>AddWorkerPool</c> call, as a singleton instance: marks the name as taken, and lets code that
/// does not know the pool's type arguments (the health check) reach the pool by name.
/// </summary>
internal sealed class WorkerPoolRegistration(string name, Func<IServiceProvider, IHostedWorkerPool> resolve)
{
    /// <summary>The name the pool was registered under: its service key and the name of its options.</summary>
    public string Name { get; } = name;

    /// <summary>Resolves the keyed pool from <paramref name="services"/> (building it on first use), and returns its view.</summary>
    public IHostedWorkerPool Resolve(IServiceProvider services) => resolve(services);

    /// <summary>Finds the registration named <paramref name="name"/> in a service collection, if any.</summary>
    public static WorkerPoolRegistration? Find(IServiceCollection services, string name)
    {
        foreach (ServiceDescriptor descriptor in services)
        {
            // ImplementationInstance throws on a keyed descriptor: test IsKeyedService first.
            if (!descriptor.IsKeyedService
                && descriptor.ServiceType == typeof(WorkerPoolRegistration)
                && descriptor.ImplementationInstance is WorkerPoolRegistration registration
                && string.Equals(registration.Name, name, StringComparison.Ordinal))
            {
                return registration;
            }
        }

        return null;
    }
}
