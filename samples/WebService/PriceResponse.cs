namespace WebService;

/// <summary>The outcome of one SKU's lookup, as the <c>/prices</c> endpoint returns it.</summary>
/// <param name="Sku">The SKU.</param>
/// <param name="Status">The job's status: Succeeded, Failed, TimedOut or Canceled.</param>
/// <param name="Price">The price, when the lookup succeeded.</param>
/// <param name="Error">The error's message, when it did not.</param>
public sealed record PriceResponse(string Sku, string Status, decimal? Price, string? Error);
