using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Engine;

/// <summary>The one waiter every wait inside the pool uses: reused without allocating, resumed on the thread pool.</summary>
public sealed class ReusableWaiterTests
{
    /// <summary>True on a thread while it is inside <see cref="ReusableWaiter{T}.Complete"/>.</summary>
    private static readonly ThreadLocal<bool> Completing = new();

    [Fact]
    public async Task Complete_ResumesTheWaiterOnTheThreadPool_NeverInsideTheCompletersCall()
    {
        var waiter = new ReusableWaiter<int>();
        Task<bool> resumedInside = ResumedInsideCompleteAsync(waiter.Arm());

        Completing.Value = true;
        try
        {
            waiter.Complete(7);
        }
        finally
        {
            Completing.Value = false;
        }

        (await resumedInside.Within()).Should().BeFalse("the code that ends a wait may hold a lock or be a worker between jobs");
    }

    [Fact]
    public async Task Arm_AfterTheLastResultWasTaken_StartsAFreshWait_AndEachResultTakenIsReportedOnce()
    {
        var waiter = new CountingWaiter();

        ValueTask<int> first = waiter.Arm();
        waiter.Complete(1);
        (await first).Should().Be(1);
        ValueTask<int> second = waiter.Arm();

        second.IsCompleted.Should().BeFalse("a new wait starts pending");
        waiter.ResultsTaken.Should().Be(1);
        waiter.Complete(2);
        (await second).Should().Be(2);
        waiter.ResultsTaken.Should().Be(2);
    }

    private static async Task<bool> ResumedInsideCompleteAsync(ValueTask<int> wait)
    {
        (await wait.ConfigureAwait(false)).Should().Be(7);
        return Completing.Value;
    }

    private sealed class CountingWaiter : ReusableWaiter<int>
    {
        public int ResultsTaken { get; private set; }

        protected override void OnResultTaken() => ResultsTaken++;
    }
}
