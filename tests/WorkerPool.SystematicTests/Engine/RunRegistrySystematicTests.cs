using Microsoft.Coyote.Specifications;
using WorkerPool.SystematicTests.Support;
using Xunit.Abstractions;

namespace WorkerPool.SystematicTests.Engine;

/// <summary>
/// The runs in flight on a pool under the schedules Coyote tries: callers adding and removing runs on different
/// stripes while disposal closes the registry and a drain waits for none to be left.
/// </summary>
public sealed class RunRegistrySystematicTests(ITestOutputHelper output)
{
    private sealed record Entry(long Id);

    /// <summary>
    /// Disposal must hand back every run that was admitted and not yet removed when it closed: a run it missed would
    /// never be cancelled or waited for. Every run admitted is either in the close's list or removed before the close
    /// read its stripe; every run refused was refused because of the close.
    /// </summary>
    [Fact]
    public void Close_CallersAddingOnEveryStripe_EveryAdmittedRunIsHandedToTheCloseOrWasRemoved() => Systematic.Explore(async () =>
    {
        var registry = new RunRegistry<Entry>(stripes: 2);
        var admitted = new Entry?[4];
        var removed = new bool[4];

        Task[] callers = [.. Enumerable.Range(0, 4).Select(i => Task.Run(() =>
        {
            var run = new Entry(i);
            if (registry.TryAdd(run, run.Id, nested: false) == RunAdmission.Admitted)
            {
                Volatile.Write(ref admitted[i], run);
                if (i % 2 == 0)
                {
                    registry.Remove(run, run.Id);
                    Volatile.Write(ref removed[i], true);
                }
            }
            else
            {
                Specification.Assert(registry.IsDisposed, $"Run {i} was refused before the registry closed.");
            }
        }))];

        Task<Entry[]> closing = Task.Run(() =>
        {
            registry.Close(out Entry[] runs);
            return runs;
        });

        Task[] all = [.. callers, closing];
        await Task.WhenAll(all);
        Entry[] handed = await closing;
        for (int i = 0; i < 4; i++)
        {
            if (admitted[i] is { } run && !removed[i])
            {
                Specification.Assert(handed.Contains(run), $"Run {i} was admitted, never removed, and missing from what the close handed over.");
            }
        }

        Specification.Assert(registry.Count == handed.Length - handed.Count(run => removed[run.Id]), "The count is not the runs in flight.");
    }, output);

    /// <summary>
    /// A drain's wait for no runs ends once the runs in flight when it began are removed, and always ends (a lost wake-up
    /// would leave it pending, which Coyote reports as a deadlock), whatever the order of the removals, a later admission
    /// and the wait.
    /// </summary>
    [Fact]
    public void WhenEmptyAsync_RemovalsAndAnAdmissionRaceTheWait_EndsOnlyAfterTheRunsInFlightAndAlwaysEnds() => Systematic.Explore(async () =>
    {
        var registry = new RunRegistry<Entry>(stripes: 2);
        var first = new Entry(0);
        var second = new Entry(1);
        var late = new Entry(2);
        registry.TryAdd(first, first.Id, nested: false);
        registry.TryAdd(second, second.Id, nested: false);

        Task<bool> waiter = Task.Run(async () =>
        {
            await registry.WhenEmptyAsync();
            return !registry.Contains(first, first.Id) && !registry.Contains(second, second.Id);
        });
        Task removeFirst = Task.Run(() => registry.Remove(first, first.Id));
        Task removeSecond = Task.Run(() => registry.Remove(second, second.Id));
        Task lateRun = Task.Run(() =>
        {
            registry.TryAdd(late, late.Id, nested: true);
            registry.Remove(late, late.Id);
        });

        Task[] all = [removeFirst, removeSecond, lateRun];
        await Task.WhenAll(all);
        Specification.Assert(await waiter, "The wait ended while a run in flight when it began was still there.");
        Specification.Assert(registry.Count == 0, "Runs are left.");
        Specification.Assert(registry.WhenEmptyAsync().IsCompleted, "A wait with no run left does not end at once.");
    }, output);

    /// <summary>
    /// A drain must wait for every run admitted from outside the pool's jobs before it began: a run is either refused
    /// because of the drain, or counted by the drain's wait. (A run admitted after a wait that saw none would run on
    /// while the drain returns.)
    /// </summary>
    [Fact]
    public void StartDraining_ARunAddedFromOutsideAtTheSameTime_IsRefusedOrWaitedFor() => Systematic.Explore(async () =>
    {
        var registry = new RunRegistry<Entry>(stripes: 2);
        var run = new Entry(1);
        RunAdmission admission = RunAdmission.Draining;
        bool waitEnded = false;

        Task caller = Task.Run(() => admission = registry.TryAdd(run, run.Id, nested: false));
        Task drain = Task.Run(() =>
        {
            registry.StartDraining();
            waitEnded = registry.WhenEmptyAsync().IsCompleted;
        });

        Task[] all = [caller, drain];
        await Task.WhenAll(all);
        Specification.Assert(
            !(admission == RunAdmission.Admitted && waitEnded),
            "A run from outside was admitted while a drain that began before it saw no run in flight.");
    }, output);
}
