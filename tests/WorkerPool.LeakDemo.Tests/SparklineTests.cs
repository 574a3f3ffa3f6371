using LeakDemo;

namespace WorkerPool.LeakDemo.Tests;

public sealed class SparklineTests
{
    [Fact]
    public void Render_RisingThenZero_ScalesToMaximumAndKeepsZeroLowest()
    {
        TimeSpan[] times = [.. Enumerable.Range(0, 8).Select(i => TimeSpan.FromSeconds(i))];
        double[] values = [0, 1, 2, 4, 8, 8, 0, 0];

        string chart = Sparkline.Render(times, values, TimeSpan.FromSeconds(8), width: 8);

        chart.Should().Be("▁▂▃▅██▁▁");
    }

    [Fact]
    public void Render_SliceWithoutSample_RepeatsThePreviousSlice()
    {
        TimeSpan[] times = [TimeSpan.Zero, TimeSpan.FromSeconds(3)];
        double[] values = [8, 4];

        string chart = Sparkline.Render(times, values, TimeSpan.FromSeconds(4), width: 4);

        chart.Should().Be("███▅");
    }
}
