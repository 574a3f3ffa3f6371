using WorkerPool.Redis.Internal;

namespace WorkerPool.Redis.Tests.Internal;

public sealed class PendingLedgerTests
{
    [Fact]
    public void TryAdd_SameIdWhileInFlight_ReturnsFalseAndCountsOnce()
    {
        var ledger = new PendingLedger(2, TimeProvider.System);
        ledger.TryAdd("1-0").Should().BeTrue();
        ledger.TryAdd("1-0").Should().BeFalse();
        ledger.Count.Should().Be(1);
        ledger.Room.Should().Be(1);
    }

    [Fact]
    public void ScheduleRetry_KeepsTheMessageHeldUntilDueThenDeliversItAgain()
    {
        var ledger = new PendingLedger(1, TimeProvider.System);
        ledger.TryAdd("1-0");
        ledger.ScheduleRetry("1-0", TimeSpan.Zero);
        ledger.Room.Should().Be(0, "a failed message waiting for its retry still counts against the bound");
        ledger.DueRetries().Should().Equal("1-0");
        ledger.TryAdd("1-0").Should().BeTrue("a retry makes it in flight again");
        ledger.DueRetries().Should().BeEmpty();
        ledger.NextRetryIn().Should().BeNull();
    }

    [Fact]
    public void Held_InFlightAndWaitingForRetry_ReturnsBothUntilRemoved()
    {
        var ledger = new PendingLedger(3, TimeProvider.System);
        ledger.TryAdd("1-0");
        ledger.TryAdd("2-0");
        ledger.ScheduleRetry("2-0", TimeSpan.FromMinutes(1));
        ledger.Held().Should().BeEquivalentTo(["1-0", "2-0"], "the heartbeat keeps both from being idle");
        ledger.Remove("1-0");
        ledger.Held().Should().Equal("2-0");
    }

    [Fact]
    public async Task WaitForChangeAsync_Full_CompletesWhenAMessageIsRemoved()
    {
        var ledger = new PendingLedger(1, TimeProvider.System);
        ledger.TryAdd("1-0");
        Task wait = ledger.WaitForChangeAsync(Timeout.InfiniteTimeSpan, CancellationToken.None);
        wait.IsCompleted.Should().BeFalse();
        ledger.Remove("1-0");
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
        ledger.Room.Should().Be(1);
    }

    [Fact]
    public void DueRetries_ReturnsIdsInStreamOrder()
    {
        PendingLedger ledger = DueNow("10-0", "9-1", "9-0");

        ledger.DueRetries().Should().Equal("9-0", "9-1", "10-0");
    }

    [Fact]
    public void DueRetries_MoreDueThanTheLimit_ReturnsTheOldestAndKeepsTheRestDue()
    {
        PendingLedger ledger = DueNow("10-0", "9-1", "9-0");

        ledger.DueRetries(limit: 2).Should().Equal("9-0", "9-1");
        ledger.DueRetries(limit: 3).Should().Equal("9-0", "9-1", "10-0");
        FluentActions.Invoking(() => ledger.DueRetries(limit: 0)).Should().Throw<ArgumentOutOfRangeException>();
    }

    /// <summary>A ledger holding <paramref name="ids"/>, each failed and due for its retry now.</summary>
    private static PendingLedger DueNow(params string[] ids)
    {
        var ledger = new PendingLedger(ids.Length, TimeProvider.System);
        foreach (string id in ids)
        {
            ledger.TryAdd(id);
            ledger.ScheduleRetry(id, TimeSpan.Zero);
        }

        return ledger;
    }
}
