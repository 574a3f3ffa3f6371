namespace WebService;

/// <summary>
/// Looks prices up. A stand-in for a scoped dependency such as a database context: the pool creates one per job, in
/// the job's own DI scope, and disposes it when the job ends.
/// </summary>
public sealed class PriceCatalog : IAsyncDisposable
{
    /// <summary>Gets the price of <paramref name="sku"/>, after a short simulated I/O wait.</summary>
    public async ValueTask<decimal> GetPriceAsync(string sku, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sku);
        await Task.Delay(TimeSpan.FromMilliseconds(10), cancellationToken);
        if (sku.StartsWith("missing", StringComparison.Ordinal))
        {
            throw new KeyNotFoundException($"No price for '{sku}'.");
        }

        // A made-up price that is the same in every process: 1.00 to 100.99.
        int hash = sku.Aggregate(17, (h, c) => unchecked((h * 31) + c)) & int.MaxValue;
        return 1m + (hash % 10_000 / 100m);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
