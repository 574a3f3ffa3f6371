using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Engine;

/// <summary>The runs in flight on one pool: admission, drain and disposal, and the wait for none left.</summary>
public sealed class RunRegistryTests
{
    private sealed record Entry(long Id);

    [Fact]
    public void TryAdd_Open_AdmitsAndCountsEachRunUntilItIsRemoved()
    {
        var registry = new RunRegistry<Entry>(stripes: 4);
        Entry[] runs = [.. Enumerable.Range(1, 9).Select(id => new Entry(id))];

        foreach (Entry run in runs)
        {
            registry.TryAdd(run, run.Id, nested: false).Should().Be(RunAdmission.Admitted);
        }

        registry.Count.Should().Be(9);
        registry.Snapshot().Should().BeEquivalentTo(runs, "runs spread over every stripe are all found");
        registry.Remove(runs[3], runs[3].Id);
        registry.Count.Should().Be(8);
        registry.Contains(runs[3], runs[3].Id).Should().BeFalse();
        registry.Contains(runs[4], runs[4].Id).Should().BeTrue();
    }

    [Fact]
    public void TryAdd_Draining_RefusesARunFromOutsideAndAdmitsANestedOne()
    {
        var registry = new RunRegistry<Entry>(stripes: 2);

        registry.StartDraining();

        registry.IsDraining.Should().BeTrue();
        registry.TryAdd(new Entry(1), 1, nested: false).Should().Be(RunAdmission.Draining);
        registry.TryAdd(new Entry(2), 2, nested: true).Should().Be(RunAdmission.Admitted);
        registry.Count.Should().Be(1, "the refused run was not added");
    }

    [Fact]
    public void Close_RunsInFlight_ReturnsThemOnceAndRefusesEveryRunAfterIt()
    {
        var registry = new RunRegistry<Entry>(stripes: 2);
        var first = new Entry(1);
        var second = new Entry(2);
        registry.TryAdd(first, first.Id, nested: false);
        registry.TryAdd(second, second.Id, nested: false);

        registry.Close(out Entry[] runs).Should().BeTrue("the first close");
        registry.Close(out Entry[] again).Should().BeFalse("a second close is not the first");

        runs.Should().BeEquivalentTo([first, second]);
        again.Should().BeEquivalentTo([first, second], "a second close still sees the runs in flight");
        registry.IsDisposed.Should().BeTrue();
        registry.TryAdd(new Entry(3), 3, nested: true).Should().Be(RunAdmission.Disposed, "even a nested run is refused once disposed");
        registry.TryAdd(new Entry(4), 4, nested: false).Should().Be(RunAdmission.Disposed);
    }

    [Fact]
    public void WhenEmptyAsync_NoRuns_CompletesAtOnce()
    {
        var registry = new RunRegistry<Entry>(stripes: 2);

        registry.WhenEmptyAsync().IsCompletedSuccessfully.Should().BeTrue();
    }

    [Fact]
    public async Task WhenEmptyAsync_RunsInFlight_CompletesOnlyWhenTheLastOneIsRemoved()
    {
        var registry = new RunRegistry<Entry>(stripes: 2);
        var first = new Entry(1);
        var second = new Entry(2);
        registry.TryAdd(first, first.Id, nested: false);
        registry.TryAdd(second, second.Id, nested: false);

        Task empty = registry.WhenEmptyAsync();
        Task sameWait = registry.WhenEmptyAsync();
        registry.Remove(first, first.Id);
        empty.IsCompleted.Should().BeFalse("one run is left");

        registry.Remove(second, second.Id);

        await empty.Within();
        await sameWait.Within();
        registry.WhenEmptyAsync().IsCompletedSuccessfully.Should().BeTrue();
    }

    [Fact]
    public async Task WhenEmptyAsync_ARunAddedAfterTheLastWasRemoved_WaitsForThatOneToo()
    {
        var registry = new RunRegistry<Entry>(stripes: 2);
        var first = new Entry(1);
        var later = new Entry(2);
        registry.TryAdd(first, first.Id, nested: false);
        registry.Remove(first, first.Id);
        registry.TryAdd(later, later.Id, nested: false);

        Task empty = registry.WhenEmptyAsync();
        empty.IsCompleted.Should().BeFalse("a run is in flight again");
        registry.Remove(later, later.Id);

        await empty.Within();
    }

    [Fact]
    public async Task TryAddAndRemove_ManyThreadsAtOnce_CountsEveryRunAndEndsEmpty()
    {
        var registry = new RunRegistry<Entry>(stripes: 4);
        const int Threads = 8;
        const int RunsPerThread = 2_000;
        using var start = new ManualResetEventSlim();
        Task[] threads = [.. Enumerable.Range(0, Threads).Select(thread => Task.Run(() =>
        {
            start.Wait();
            for (int i = 0; i < RunsPerThread; i++)
            {
                var run = new Entry((thread * RunsPerThread) + i + 1);
                registry.TryAdd(run, run.Id, nested: false).Should().Be(RunAdmission.Admitted);
                registry.Remove(run, run.Id);
            }
        }))];
        var anchor = new Entry(0);
        registry.TryAdd(anchor, anchor.Id, nested: false);
        Task empty = registry.WhenEmptyAsync();

        start.Set();
        await Task.WhenAll(threads).Within();

        empty.IsCompleted.Should().BeFalse("the anchor run was in flight all along");
        registry.Snapshot().Should().Equal(anchor);
        registry.Remove(anchor, anchor.Id);
        registry.Count.Should().Be(0);
        await empty.Within();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(3)]
    public void Constructor_StripesNotAPositivePowerOfTwo_Throws(int stripes)
    {
        Action create = () => _ = new RunRegistry<Entry>(stripes);

        create.Should().Throw<ArgumentOutOfRangeException>().WithParameterName(nameof(stripes))
            .WithMessage("The number of stripes must be a positive power of two.*");
    }

    [Fact]
    public void TryAdd_OneStripe_AdmitsEveryRunInIt()
    {
        var registry = new RunRegistry<Entry>(stripes: 1);

        registry.TryAdd(new Entry(1), 1, nested: false).Should().Be(RunAdmission.Admitted);
        registry.TryAdd(new Entry(2), 2, nested: false).Should().Be(RunAdmission.Admitted);

        registry.Snapshot().Should().HaveCount(2);
    }

    [Fact]
    public void StripesFor_AnyMachine_IsAPowerOfTwoBetweenFourAndSixtyFour()
    {
        foreach (int processors in new[] { 1, 2, 3, 8, 16, 64, 1024 })
        {
            int stripes = RunRegistry<Entry>.StripesFor(processors);
            int.IsPow2(stripes).Should().BeTrue();
            stripes.Should().BeInRange(4, 64);
            stripes.Should().BeGreaterThanOrEqualTo(Math.Min(64, processors * 2), "at least two stripes per processor, up to the cap");
        }
    }
}
