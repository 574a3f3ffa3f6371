using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Engine;

/// <summary>The claim protocol of one run: workers enter and exit, the finish closes the gate and waits for the drain.</summary>
public sealed class ClaimGateTests
{
    [Fact]
    public void TryEnter_OpenGate_EntersAndCountsTheWorkerUntilItExits()
    {
        var gate = default(ClaimGate);

        gate.TryEnter().Should().BeTrue();
        gate.TryEnter().Should().BeTrue();
        gate.Inside.Should().Be(2);

        gate.Exit();
        gate.Inside.Should().Be(1);
        gate.IsClosed.Should().BeFalse();
    }

    [Fact]
    public void CloseAndDrainAsync_NobodyInside_ClosesAndIsDrainedAtOnce()
    {
        var gate = default(ClaimGate);
        gate.TryEnter().Should().BeTrue();
        gate.Exit();

        Task drained = gate.CloseAndDrainAsync();

        gate.IsClosed.Should().BeTrue();
        drained.IsCompletedSuccessfully.Should().BeTrue();
    }

    [Fact]
    public async Task CloseAndDrainAsync_WorkersInside_DrainedOnlyWhenTheLastOneExits()
    {
        var gate = default(ClaimGate);
        gate.TryEnter().Should().BeTrue();
        gate.TryEnter().Should().BeTrue();

        Task drained = gate.CloseAndDrainAsync();
        drained.IsCompleted.Should().BeFalse("two workers are inside");
        gate.Exit();
        drained.IsCompleted.Should().BeFalse("one worker is still inside");
        gate.Exit();

        await drained.Within();
        gate.Inside.Should().Be(0);
    }

    [Fact]
    public async Task TryEnter_ClosedGate_RefusesAndTheRefusedExitDoesNotEndTheDrainEarly()
    {
        var gate = default(ClaimGate);
        gate.TryEnter().Should().BeTrue();
        Task drained = gate.CloseAndDrainAsync();

        gate.TryEnter().Should().BeFalse("the gate is closed");
        gate.Exit();

        drained.IsCompleted.Should().BeFalse("the worker that entered before the close is still inside");
        gate.Exit();
        await drained.Within();
    }

    [Fact]
    public async Task TryEnter_RacingTheClose_EveryWorkerThatGotInIsWaitedFor()
    {
        for (int round = 0; round < 200; round++)
        {
            var holder = new GateHolder();
            int admittedStillInside = 0;
            var start = TestExtensions.NewGate();
            var release = TestExtensions.NewGate();
            Task[] workers = [.. Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                await start.Task;
                if (holder.Gate.TryEnter())
                {
                    Interlocked.Increment(ref admittedStillInside);
                    await release.Task;
                    Interlocked.Decrement(ref admittedStillInside);
                }

                holder.Gate.Exit();
            }))];

            start.TrySetResult();
            Task drained = holder.Gate.CloseAndDrainAsync();
            if (!drained.IsCompleted)
            {
                release.TrySetResult();
            }

            await drained.Within();
            Volatile.Read(ref admittedStillInside).Should().Be(0, "the drain ends only once every admitted worker has left");
            release.TrySetResult();
            await Task.WhenAll(workers).Within();
            holder.Gate.Inside.Should().Be(0);
        }
    }

    /// <summary>The gate is a struct kept in its run; tasks share it through this holder, as they share a run.</summary>
    private sealed class GateHolder
    {
        public ClaimGate Gate;
    }
}
