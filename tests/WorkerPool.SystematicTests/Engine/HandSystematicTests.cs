using Microsoft.Coyote.Specifications;
using WorkerPool.SystematicTests.Support;
using Xunit.Abstractions;

namespace WorkerPool.SystematicTests.Engine;

/// <summary>
/// Workers' hands (<c>WorkerBatchSize</c> above 1) under the schedules Coyote tries: a holder claims its hand's jobs
/// without the queue's lock while another worker steals from it and the owner's finish closes it, and the holder gives
/// its hand back. See docs/design.md, "Batches: a worker's hand".
/// </summary>
public sealed class HandSystematicTests(ITestOutputHelper output)
{
    /// <summary>
    /// Two owners' jobs, a worker with a hand of up to three jobs that gives it back after its second job, a worker that
    /// takes one job at a time (and steals once the queue is empty), and one owner finished at a moment Coyote picks:
    /// every job is taken, removed or ended unstarted exactly once, none after its owner's finish, and no room is left
    /// held.
    /// </summary>
    [Fact]
    public void Hand_HolderThiefAndAFinish_EachJobTakenOrRemovedOnceAndNoRoomLeftHeld() => Systematic.Explore(async () =>
    {
        using var scene = new QueueScene(capacity: 16, handSize: 3);
        var a = new ClaimingOwner("a");
        var b = new ClaimingOwner("b");
        for (int job = 0; job < 8; job++)
        {
            scene.Prefill(a, job);
        }

        scene.Prefill(b, 100);
        scene.Prefill(b, 101);

        scene.StartHandWorker(giveBackAfter: 2);
        scene.StartWorker();
        Task finishA = Task.Run(async () =>
        {
            await Task.Yield();
            await a.FinishAsync(scene.Queue);
        });

        await finishA;
        await scene.StopWorkersAsync();
        await b.FinishAsync(scene.Queue);

        scene.AssertEveryJobAccountedFor(a, b);
    }, output);

    /// <summary>
    /// Two workers with hands and one without, and no finish: they fill, claim, steal and give back among themselves;
    /// every job is taken exactly once and the room of every hand comes back.
    /// </summary>
    [Fact]
    public void Hand_TwoHoldersAndAThief_EachJobTakenOnceAndNoRoomLeftHeld() => Systematic.Explore(async () =>
    {
        using var scene = new QueueScene(capacity: 16, handSize: 3);
        var a = new ClaimingOwner("a");
        for (int job = 0; job < 12; job++)
        {
            scene.Prefill(a, job);
        }

        scene.StartHandWorker(giveBackAfter: 3);
        scene.StartHandWorker(giveBackAfter: 0);
        scene.StartWorker();
        await scene.StopWorkersAsync();
        await a.FinishAsync(scene.Queue);

        scene.AssertEveryJobAccountedFor(a);
    }, output);

    /// <summary>
    /// A holder that gives its hand back before every second job awaits, a worker without a hand, and a producer that
    /// waits in line with four jobs at a time for room in the full queue, which the takes and the hands given back
    /// free: the producer is admitted, every job is taken once, and no room is left held.
    /// </summary>
    [Fact]
    public void Hand_HolderGivesBackBeforeItAwaits_WhileAProducerWaitsInLineWithSeveralJobs() => Systematic.Explore(async () =>
    {
        using var scene = new QueueScene(capacity: 8, handSize: 3);
        var a = new ClaimingOwner("a");
        var b = new ClaimingOwner("b");
        for (int job = 0; job < 8; job++)
        {
            scene.Prefill(a, job);
        }

        Task producer = Task.Run(async () =>
        {
            var waiter = new JobQueue<ClaimingOwner, int>.Waiter();
            bool first = await scene.WriteAllAsync(b, [10, 11, 12, 13], waiter, CancellationToken.None);
            bool second = await scene.WriteAllAsync(b, [14, 15, 16, 17], waiter, CancellationToken.None);
            Specification.Assert(first && second, "The producer of an open owner is admitted.");
        });
        scene.StartHandWorker(giveBackAfter: 0, awaitEvery: 2);
        scene.StartWorker();

        await producer;
        await scene.StopWorkersAsync();
        await a.FinishAsync(scene.Queue);
        await b.FinishAsync(scene.Queue);

        scene.AssertEveryJobAccountedFor(a, b);
    }, output);
}
