namespace WorkerPool.Benchmarks;

/// <summary>The median of one figure over several launches, and its range.</summary>
internal readonly record struct Spread(double Median, double Min, double Max)
{
    public static Spread Of(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        if (sorted.Length == 0)
        {
            throw new ArgumentException("No values.", nameof(values));
        }

        int middle = sorted.Length / 2;
        double median = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        return new Spread(median, sorted[0], sorted[^1]);
    }

    /// <summary>For example <c>1.23 (1.10–1.40)</c>.</summary>
    public string ToString(string format) =>
        $"{ChildLaunch.Format(Median, format)} ({ChildLaunch.Format(Min, format)}–{ChildLaunch.Format(Max, format)})";

    public override string ToString() => ToString("N2");
}
