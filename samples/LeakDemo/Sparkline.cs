namespace LeakDemo;

/// <summary>Draws a series as a one-line text chart of block characters, ▁ for zero up to █ for the maximum.</summary>
public static class Sparkline
{
    private const string Levels = "▁▂▃▄▅▆▇█";

    /// <summary>
    /// Draws <paramref name="values"/>, sampled at <paramref name="times"/>, over <paramref name="width"/> characters that
    /// split <paramref name="duration"/> evenly. Each character shows the largest value in its slice of time; a slice with
    /// no sample repeats the one before. Zero is ▁, any positive value at least ▂, and the maximum █.
    /// </summary>
    /// <param name="times">When each value was taken, in increasing order.</param>
    /// <param name="values">The values, one per time; none negative.</param>
    /// <param name="duration">The time the chart covers, from zero.</param>
    /// <param name="width">The number of characters.</param>
    /// <returns>The chart, exactly <paramref name="width"/> characters long.</returns>
    /// <exception cref="ArgumentException">The two lists differ in length.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="width"/> or <paramref name="duration"/> is not positive.</exception>
    public static string Render(IReadOnlyList<TimeSpan> times, IReadOnlyList<double> values, TimeSpan duration, int width)
    {
        ArgumentNullException.ThrowIfNull(times);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(duration, TimeSpan.Zero);
        if (times.Count != values.Count)
        {
            throw new ArgumentException($"{nameof(times)} has {times.Count} entries but {nameof(values)} has {values.Count}.", nameof(values));
        }

        var slices = new double[width];
        var filled = new bool[width];
        for (int i = 0; i < values.Count; i++)
        {
            int slice = Math.Clamp((int)(times[i] / duration * width), 0, width - 1);
            slices[slice] = filled[slice] ? Math.Max(slices[slice], values[i]) : values[i];
            filled[slice] = true;
        }

        for (int slice = 1; slice < width; slice++)
        {
            if (!filled[slice])
            {
                slices[slice] = slices[slice - 1];
            }
        }

        double max = slices.Max();
        var chart = new char[width];
        for (int slice = 0; slice < width; slice++)
        {
            chart[slice] = Levels[Level(slices[slice], max)];
        }

        return new string(chart);
    }

    private static int Level(double value, double max)
    {
        if (value <= 0 || max <= 0)
        {
            return 0;
        }

        int top = Levels.Length - 1;
        return Math.Clamp((int)Math.Ceiling(value / max * top), 1, top);
    }
}
