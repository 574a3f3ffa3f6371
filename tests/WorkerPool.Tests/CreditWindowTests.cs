namespace WorkerPool.Tests;

/// <summary>The StreamAsync window: credits taken by the producer, given back by the consumer, closed by cancellation.</summary>
public sealed class CreditWindowTests
{
    [Fact]
    public async Task TakeAsync_CreditsLeft_CompletesAtOnceUntilTheyRunOut()
    {
        var window = new CreditWindow(2);

        (await window.TakeAsync(1)).Should().Be(1);
        (await window.TakeAsync(1)).Should().Be(1);
        ValueTask<int> third = window.TakeAsync(1);

        third.IsCompleted.Should().BeFalse();
        window.Close();
        (await third).Should().Be(0);
    }

    [Fact]
    public async Task TakeAsync_AsksForMoreThanLeft_TakesWhatIsLeftWithoutWaiting()
    {
        var window = new CreditWindow(5);

        (await window.TakeAsync(3)).Should().Be(3);
        ValueTask<int> rest = window.TakeAsync(3);

        rest.IsCompletedSuccessfully.Should().BeTrue();
        (await rest).Should().Be(2);
        ValueTask<int> none = window.TakeAsync(1);
        none.IsCompleted.Should().BeFalse("all 5 credits are taken");
        window.Close();
        (await none).Should().Be(0);
    }

    [Fact]
    public async Task Release_ProducerWaiting_HandsItWhatItAskedForAndKeepsTheRest()
    {
        var window = new CreditWindow(3);
        (await window.TakeAsync(3)).Should().Be(3);

        ValueTask<int> waiting = window.TakeAsync(2);
        waiting.IsCompleted.Should().BeFalse();

        window.Release(3);

        (await waiting).Should().Be(2);
        ValueTask<int> last = window.TakeAsync(2);
        last.IsCompletedSuccessfully.Should().BeTrue();
        (await last).Should().Be(1);
        ValueTask<int> next = window.TakeAsync(1);
        next.IsCompleted.Should().BeFalse("the window of 3 is in use again");
        window.Close();
        (await next).Should().Be(0);
    }

    [Fact]
    public async Task Release_FewerThanAskedFor_WakesTheProducerWithThose()
    {
        var window = new CreditWindow(4);
        (await window.TakeAsync(4)).Should().Be(4);
        ValueTask<int> waiting = window.TakeAsync(4);

        window.Release(1);

        (await waiting).Should().Be(1);
    }

    [Fact]
    public async Task Release_ZeroWhileProducerWaits_KeepsItWaiting()
    {
        var window = new CreditWindow(1);
        (await window.TakeAsync(1)).Should().Be(1);
        ValueTask<int> waiting = window.TakeAsync(1);

        window.Release(0);

        waiting.IsCompleted.Should().BeFalse("no credit came back");
        window.Release(1);
        (await waiting).Should().Be(1);
    }

    [Fact]
    public async Task Release_NobodyWaiting_CreditsAreTakenLaterWithoutWaiting()
    {
        var window = new CreditWindow(1);
        (await window.TakeAsync(1)).Should().Be(1);

        window.Release(1);

        ValueTask<int> next = window.TakeAsync(1);
        next.IsCompletedSuccessfully.Should().BeTrue();
        (await next).Should().Be(1);
    }

    [Fact]
    public async Task Close_CreditsLeft_TakesReturnZeroFromThenOn()
    {
        var window = new CreditWindow(4);
        (await window.TakeAsync(1)).Should().Be(1);

        window.Close();
        window.Close();

        (await window.TakeAsync(1)).Should().Be(0);
        window.Release(1);
        (await window.TakeAsync(1)).Should().Be(0);
    }

    [Fact]
    public async Task TakeAsync_WaitedManyTimes_ReusesOneWaiterCorrectly()
    {
        var window = new CreditWindow(1);
        (await window.TakeAsync(1)).Should().Be(1);

        for (int i = 0; i < 100; i++)
        {
            ValueTask<int> waiting = window.TakeAsync(1);
            waiting.IsCompleted.Should().BeFalse();
            window.Release(1);
            (await waiting).Should().Be(1);
        }
    }
}
