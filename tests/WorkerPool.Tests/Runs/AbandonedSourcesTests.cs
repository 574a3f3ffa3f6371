namespace WorkerPool.Tests.Runs;

/// <summary>The abandoned asynchronous sources of one pool, each held until its call returns, and reported once.</summary>
public sealed class AbandonedSourcesTests
{
    [Fact]
    public void Snapshot_SourcesAddedAndOneRemoved_HoldsTheOthers()
    {
        var sources = new AbandonedSources();
        AbandonedSources.Entry first = sources.Add(1, new TaskCompletionSource<bool>().Task);
        AbandonedSources.Entry second = sources.Add(2, new TaskCompletionSource<bool>().Task);

        sources.Remove(first);

        sources.Snapshot().Should().Equal(second);
        second.RunId.Should().Be(2);
    }

    [Fact]
    public void TryTakeReport_TwoReporters_OnlyTheFirstReports()
    {
        AbandonedSources.Entry entry = new AbandonedSources().Add(7, new TaskCompletionSource<bool>().Task);
        entry.Reported.Should().BeFalse();

        entry.TryTakeReport().Should().BeTrue();
        entry.TryTakeReport().Should().BeFalse();
        entry.Reported.Should().BeTrue();
    }
}
