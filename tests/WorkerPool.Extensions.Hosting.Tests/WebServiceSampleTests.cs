using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using WorkerPool.Testing;

namespace WorkerPool.Extensions.Hosting.Tests;

/// <summary>Starts the WebService sample for real, on a free port of 127.0.0.1, and drives it over HTTP.</summary>
public sealed class WebServiceSampleTests
{
    [Fact]
    public async Task WebService_PricesAndHealthz_ServeThenStopDrained()
    {
        WebApplication app = WebService.Program.CreateApp(
            ["--urls", "http://127.0.0.1:0", "--contentRoot", AppContext.BaseDirectory, "--environment", "Production"]);
        await using (app)
        {
            await app.StartAsync();
            using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

            using JsonDocument prices = JsonDocument.Parse(await http.GetStringAsync("/prices?sku=apple&sku=pear&sku=missing-kiwi"));
            JsonElement[] results = [.. prices.RootElement.EnumerateArray()];
            results.Select(r => r.GetProperty("sku").GetString()).Should().Equal("apple", "pear", "missing-kiwi");
            results.Select(r => r.GetProperty("status").GetString()).Should().Equal("Succeeded", "Succeeded", "Failed");
            results[0].GetProperty("price").GetDecimal().Should().BeInRange(1m, 101m);

            using HttpResponseMessage health = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
            health.StatusCode.Should().Be(HttpStatusCode.OK);
            using JsonDocument report = JsonDocument.Parse(await health.Content.ReadAsStringAsync());
            report.RootElement.GetProperty("status").GetString().Should().Be("Healthy");
            JsonElement data = report.RootElement.GetProperty("checks").GetProperty("workerpool:prices").GetProperty("data");
            data.GetProperty("MaxWorkers").GetInt32().Should().Be(8, "appsettings.json sets it");
            data.GetProperty("QueueCapacity").GetInt32().Should().Be(64, "appsettings.json sets it");
            data.GetProperty("Succeeded").GetInt64().Should().Be(2);
            data.GetProperty("Failed").GetInt64().Should().Be(1);

            await app.StopAsync();
        }

        await WorkerPoolLeakCheck.VerifyNoneAsync("prices");
    }
}
