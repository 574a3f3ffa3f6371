namespace WorkerPool.Tests;

/// <summary>The StreamAsync window: credits taken by the producer, given back by the consumer, closed by cancellation.</summary>
public sealed class CreditWindowTests
{
    [Fact]
    public async Task TakeAsync_CreditsLeft_CompletesAtOnceUntilTheyRunOut()
    {
        var window = new CreditWindow(2);

        (await window.TakeAsync()).Should().BeTrue();
        (await window.TakeAsync()).Should().BeTrue();
        ValueTask<bool> third = window.TakeAsync();

        third.IsCompleted.Should().BeFalse();
        window.Close();
        (await third).Should().BeFalse();
    }

    [Fact]
    public async Task Release_ProducerWaiting_WakesItWithOneCreditAndKeepsTheRest()
    {
        var window = new CreditWindow(3);
        for (int i = 0; i < 3; i++)
        {
            (await window.TakeAsync()).Should().BeTrue();
        }

        ValueTask<bool> waiting = window.TakeAsync();
        waiting.IsCompleted.Should().BeFalse();

        window.Release(3);

        (await waiting).Should().BeTrue();
        ValueTask<bool> second = window.TakeAsync();
        ValueTask<bool> third = window.TakeAsync();
        second.IsCompletedSuccessfully.Should().BeTrue();
        third.IsCompletedSuccessfully.Should().BeTrue();
        (await second).Should().BeTrue();
        (await third).Should().BeTrue();
        ValueTask<bool> fourth = window.TakeAsync();
        fourth.IsCompleted.Should().BeFalse("the window of 3 is in use again");
        window.Close();
        (await fourth).Should().BeFalse();
    }

    [Fact]
    public async Task Release_NobodyWaiting_CreditsAreTakenLaterWithoutWaiting()
    {
        var window = new CreditWindow(1);
        (await window.TakeAsync()).Should().BeTrue();

        window.Release(1);

        ValueTask<bool> next = window.TakeAsync();
        next.IsCompletedSuccessfully.Should().BeTrue();
        (await next).Should().BeTrue();
    }

    [Fact]
    public async Task Close_CreditsLeft_TakesReturnFalseFromThenOn()
    {
        var window = new CreditWindow(4);
        (await window.TakeAsync()).Should().BeTrue();

        window.Close();
        window.Close();

        (await window.TakeAsync()).Should().BeFalse();
        window.Release(1);
        (await window.TakeAsync()).Should().BeFalse();
    }

    [Fact]
    public async Task TakeAsync_WaitedManyTimes_ReusesOneWaiterCorrectly()
    {
        var window = new CreditWindow(1);
        (await window.TakeAsync()).Should().BeTrue();

        for (int i = 0; i < 100; i++)
        {
            ValueTask<bool> waiting = window.TakeAsync();
            waiting.IsCompleted.Should().BeFalse();
            window.Release(1);
            (await waiting).Should().BeTrue();
        }
    }
}
