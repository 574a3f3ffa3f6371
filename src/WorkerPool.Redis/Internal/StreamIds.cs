namespace WorkerPool.Redis.Internal;

/// <summary>Orders stream entry ids (<c>"milliseconds-sequence"</c>) as Redis does.</summary>
internal static class StreamIds
{
    internal static int Compare(string? left, string? right)
    {
        (ulong leftMs, ulong leftSeq) = Parse(left);
        (ulong rightMs, ulong rightSeq) = Parse(right);
        int byTime = leftMs.CompareTo(rightMs);
        return byTime != 0 ? byTime : leftSeq.CompareTo(rightSeq);
    }

    private static (ulong Milliseconds, ulong Sequence) Parse(string? id)
    {
        if (string.IsNullOrEmpty(id))
        {
            return (0, 0);
        }

        int dash = id.IndexOf('-', StringComparison.Ordinal);
        ReadOnlySpan<char> ms = dash < 0 ? id : id.AsSpan(0, dash);
        ReadOnlySpan<char> seq = dash < 0 ? [] : id.AsSpan(dash + 1);
        _ = ulong.TryParse(ms, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong milliseconds);
        _ = ulong.TryParse(seq, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong sequence);
        return (milliseconds, sequence);
    }
}
