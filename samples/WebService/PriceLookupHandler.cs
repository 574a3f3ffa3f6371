using WorkerPool;

namespace WebService;

/// <summary>The pool's work for one SKU: resolved from a new DI scope for each job.</summary>
public sealed class PriceLookupHandler(PriceCatalog catalog) : IJobHandler<string, decimal>
{
    /// <inheritdoc />
    public ValueTask<decimal> HandleAsync(string job, CancellationToken cancellationToken) =>
        catalog.GetPriceAsync(job, cancellationToken);
}
