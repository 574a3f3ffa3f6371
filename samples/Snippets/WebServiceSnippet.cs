#region OpenTelemetry
using OpenTelemetry.Metrics;
#endregion
#region WebService
using WorkerPool;
#endregion

namespace Snippets;

internal static class WebServiceSnippet
{
    internal static void Run(string[] args)
    {
        #region WebService
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddHttpClient();
        builder.Services.AddSingleton(services => new BoundedWorkerPool<Uri, int>(
            async (url, ct) => (await services.GetRequiredService<IHttpClientFactory>().CreateClient().GetByteArrayAsync(url, ct)).Length,
            new WorkerPoolOptions { Name = "page-size", MaxWorkers = 32, QueueCapacity = 256, JobTimeout = TimeSpan.FromSeconds(5) },
            services.GetRequiredService<ILoggerFactory>()));

        var app = builder.Build();
        app.MapGet("/size", async (string url, BoundedWorkerPool<Uri, int> pool, HttpContext http) =>
            Results.Ok(await pool.SubmitAsync(new Uri(url), http.RequestAborted)));
        app.Run();
        #endregion
    }

    internal static void AddTelemetry(WebApplicationBuilder builder)
    {
        #region OpenTelemetry
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter("WorkerPool").AddOtlpExporter());
        #endregion
    }
}
