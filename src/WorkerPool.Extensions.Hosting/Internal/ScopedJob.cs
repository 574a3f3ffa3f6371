using Microsoft.Extensions.DependencyInjection;

namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>The work of a registered pool: one asynchronous DI scope per job, disposed when the job ends.</summary>
internal static class ScopedJob
{
    public static async ValueTask<TResult> RunAsync<TJob, TResult, THandler>(
        IServiceScopeFactory scopes,
        TJob job,
        CancellationToken cancellationToken)
        where THandler : class, IJobHandler<TJob, TResult>
    {
        AsyncServiceScope scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            THandler handler = scope.ServiceProvider.GetRequiredService<THandler>();
            return await handler.HandleAsync(job, cancellationToken).ConfigureAwait(false);
        }
    }
}
