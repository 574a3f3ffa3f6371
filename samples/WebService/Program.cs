using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using WorkerPool;

namespace WebService;

/// <summary>
/// A web service that fans each request out over one shared, bounded pool: <c>GET /prices?sku=a&amp;sku=b</c> looks the
/// prices up in parallel, at most <c>MaxWorkers</c> at a time across all requests, and <c>/healthz</c> reports the pool.
/// </summary>
public static class Program
{
    /// <summary>The name the pool is registered under, and the key of its configuration section.</summary>
    public const string PoolName = "prices";

    /// <summary>Runs the service until it is stopped (Ctrl+C): then the pool is drained before the process exits.</summary>
    public static async Task Main(string[] args)
    {
        await using WebApplication app = CreateApp(args);
        await app.RunAsync();
    }

    /// <summary>Builds the application, ready to start. Tests call it with <c>--urls http://127.0.0.1:0</c>.</summary>
    public static WebApplication CreateApp(string[] args)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(args);

        builder.Services.AddScoped<PriceCatalog>();
        builder.Services.AddWorkerPool<string, decimal, PriceLookupHandler>(PoolName)
            .BindConfiguration($"WorkerPools:{PoolName}")
            .ValidateOnStart();
        builder.Services.AddHealthChecks().AddWorkerPool(PoolName);

        WebApplication app = builder.Build();

        app.MapGet("/prices", async (
            [FromKeyedServices(PoolName)] BoundedWorkerPool<string, decimal> pool,
            [FromQuery(Name = "sku")] string[] skus,
            HttpContext context) =>
        {
            // The request's token: when the client goes away, the lookups of this request stop, and only those.
            IReadOnlyList<JobResult<string, decimal>> results = await pool.RunAsync(skus, context.RequestAborted);
            return Results.Ok(results.Select(r => new PriceResponse(
                r.Job,
                r.Status.ToString(),
                r.Status == JobStatus.Succeeded ? r.Value : null,
                r.Error?.Message)));
        });

        app.MapHealthChecks("/healthz", new HealthCheckOptions { ResponseWriter = WriteHealthAsync });
        return app;
    }

    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(
                e => e.Key,
                e => new { status = e.Value.Status.ToString(), description = e.Value.Description, data = e.Value.Data }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body));
    }
}
