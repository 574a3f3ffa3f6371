namespace WorkerPool.Tests.Runs;

/// <summary>RunAsync's outcomes in input order: slots made by the producer, written once each by any worker.</summary>
public sealed class ResultCollectorTests
{
    [Fact]
    public void ToList_KnownCount_ReturnsTheOneArrayInInputOrder()
    {
        var collector = new ResultCollector<int, int>(expected: 3);
        for (long i = 0; i < 3; i++)
        {
            collector.EnsureSlot(i);
        }

        collector.Add(Outcome(2));
        collector.Add(Outcome(0));
        collector.Add(Outcome(1));

        IReadOnlyList<JobResult<int, int>> list = collector.ToList(pulled: 3);
        list.Select(r => r.Index).Should().Equal(0, 1, 2);
        list.Should().BeOfType<JobResult<int, int>[]>("a known count fills one array exactly");
    }

    [Fact]
    public void ToList_SourceYieldsFewerThanItsCount_ReturnsOnlyThePulledJobs()
    {
        var collector = new ResultCollector<int, int>(expected: 10);
        collector.EnsureSlot(0);
        collector.EnsureSlot(1);
        collector.Add(Outcome(1));
        collector.Add(Outcome(0));

        IReadOnlyList<JobResult<int, int>> list = collector.ToList(pulled: 2);

        list.Count.Should().Be(2);
        list.Select(r => r.Index).Should().Equal(0, 1);
    }

    [Fact]
    public void ToList_UnknownCountAcrossSeveralChunks_KeepsInputOrderAndIndexesEveryOutcome()
    {
        const int Count = 5000;
        var collector = new ResultCollector<int, int>(expected: 0);
        for (long i = 0; i < Count; i++)
        {
            collector.EnsureSlot(i);
        }

        for (long i = Count - 1; i >= 0; i--)
        {
            collector.Add(Outcome(i));
        }

        IReadOnlyList<JobResult<int, int>> list = collector.ToList(pulled: Count);

        list.Count.Should().Be(Count);
        list.Select(r => r.Index).Should().Equal(Enumerable.Range(0, Count).Select(i => (long)i));
        list[4999].Index.Should().Be(4999);
        ((Action)(() => _ = list[Count])).Should().Throw<ArgumentOutOfRangeException>();
        ((Action)(() => _ = list[-1])).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void ToList_NothingPulled_IsEmpty()
    {
        new ResultCollector<int, int>(expected: 0).ToList(pulled: 0).Should().BeEmpty();
        new ResultCollector<int, int>(expected: 4).ToList(pulled: 0).Should().BeEmpty();
    }

    [Fact]
    public async Task Add_FromManyThreadsWhileTheProducerGrows_EveryOutcomeLandsInItsSlot()
    {
        const int Count = 20_000;
        var collector = new ResultCollector<int, int>(expected: 0);
        var ready = new System.Collections.Concurrent.BlockingCollection<long>();
        Task[] workers = [.. Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            foreach (long index in ready.GetConsumingEnumerable())
            {
                collector.Add(Outcome(index));
            }
        }))];

        for (long i = 0; i < Count; i++)
        {
            collector.EnsureSlot(i);
            ready.Add(i);
        }

        ready.CompleteAdding();
        await Task.WhenAll(workers);

        collector.ToList(pulled: Count).Select(r => r.Index).Should().Equal(Enumerable.Range(0, Count).Select(i => (long)i));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(300)]
    [InlineData(5000)]
    public void EnsureSlot_EachOutcomeWrittenAsSoonAsItsSlotIsMade_NoLaterSlotOverwritesIt(int expected)
    {
        // The producer touches, once per page's worth of slots, the slot a page ahead; each outcome here is written before
        // the next slot is made, as a fast worker would, across several pages and, with an unknown count, several chunks.
        const int Count = 5000;
        var collector = new ResultCollector<int, int>(expected);
        for (long i = 0; i < Count; i++)
        {
            collector.EnsureSlot(i);
            collector.Add(Outcome(i));
        }

        IReadOnlyList<JobResult<int, int>> list = collector.ToList(pulled: Count);
        list.Select(r => r.Value).Should().Equal(Enumerable.Range(0, Count).Select(i => i * 2));
    }

    private static JobResult<int, int> Outcome(long index) =>
        new(index, (int)index, JobStatus.Succeeded, (int)index * 2, null, TimeSpan.Zero);
}
