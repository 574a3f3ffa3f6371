namespace WorkerPool.Tests.Runs;

/// <summary>StreamAsync's reordering: outcomes arrive in completion order and leave in input order.</summary>
public sealed class ReorderBufferTests
{
    [Fact]
    public void TryTakeNext_OutcomesArriveOutOfOrder_TakesThemInInputOrderOnly()
    {
        var buffer = new ReorderBuffer<int, int>();
        buffer.Add(Outcome(1));
        buffer.Add(Outcome(2));

        buffer.TryTakeNext(out _).Should().BeFalse("outcome 0 has not arrived");
        buffer.Add(Outcome(0));

        TakeAll(buffer).Should().Equal(0, 1, 2);
        buffer.TryTakeNext(out _).Should().BeFalse();
    }

    [Fact]
    public void Add_FarBeyondItsFirstSize_GrowsAndKeepsEveryOutcome()
    {
        var buffer = new ReorderBuffer<int, int>();
        for (long i = 99; i >= 1; i--)
        {
            buffer.Add(Outcome(i));
        }

        buffer.TryTakeNext(out _).Should().BeFalse();
        buffer.Add(Outcome(0));

        TakeAll(buffer).Should().Equal(Enumerable.Range(0, 100).Select(i => (long)i));
    }

    [Fact]
    public void Add_AfterTakingSomeAndWrappingTheRing_KeepsInputOrder()
    {
        var buffer = new ReorderBuffer<int, int>();
        for (long round = 0; round < 10; round++)
        {
            long first = round * 10;
            for (long i = first + 9; i >= first; i--)
            {
                buffer.Add(Outcome(i));
            }

            TakeAll(buffer).Should().Equal(Enumerable.Range((int)first, 10).Select(i => (long)i));
        }
    }

    [Fact]
    public void DrainTo_OutcomesStillWaiting_HandsThemAllOverAndEmptiesTheBuffer()
    {
        var buffer = new ReorderBuffer<int, int>();
        buffer.Add(Outcome(3));
        buffer.Add(Outcome(1));
        var drained = new List<JobResult<int, int>>();

        buffer.DrainTo(drained);

        drained.Select(r => r.Index).Should().BeEquivalentTo([1L, 3L]);
        buffer.Add(Outcome(0));
        TakeAll(buffer).Should().Equal(0L);
    }

    private static List<long> TakeAll(ReorderBuffer<int, int> buffer)
    {
        var taken = new List<long>();
        while (buffer.TryTakeNext(out JobResult<int, int> result))
        {
            taken.Add(result.Index);
        }

        return taken;
    }

    private static JobResult<int, int> Outcome(long index) =>
        new(index, (int)index, JobStatus.Succeeded, (int)index, null, TimeSpan.Zero);
}
