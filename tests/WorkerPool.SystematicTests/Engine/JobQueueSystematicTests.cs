using Microsoft.Coyote.Specifications;
using WorkerPool.SystematicTests.Support;
using Xunit.Abstractions;

namespace WorkerPool.SystematicTests.Engine;

/// <summary>
/// The pool queue under the schedules Coyote tries: producers writing through the admission line while workers take,
/// waiters cancelled, owners closed and their jobs removed, room handed over under the lock. See docs/design.md, "The
/// queue and the admission line", "The claim protocol" and "Systematic testing".
/// </summary>
public sealed class JobQueueSystematicTests(ITestOutputHelper output)
{
    /// <summary>
    /// Two owners' producers write two jobs each into a queue of one place, two workers take them, and one owner is
    /// finished (closed, its jobs removed, its workers waited for) at a moment Coyote picks.
    /// </summary>
    [Fact]
    public void WriteAsync_TwoProducersTwoWorkersAndAnOwnerFinishing_EachJobTakenOrRemovedOnce() => Systematic.Explore(async () =>
    {
        using var scene = new QueueScene(capacity: 1);
        var a = new ClaimingOwner("a");
        var b = new ClaimingOwner("b");

        Task producerA = Task.Run(() => scene.ProduceAsync(a, [1, 2], CancellationToken.None));
        Task producerB = Task.Run(() => scene.ProduceAsync(b, [11, 12], CancellationToken.None));
        scene.StartWorker();
        scene.StartWorker();
        Task finishA = Task.Run(() => a.FinishAsync(scene.Queue));

        await Task.WhenAll(new[] { producerA, producerB, finishA });
        await scene.StopWorkersAsync();
        await b.FinishAsync(scene.Queue);

        Specification.Assert(b.Removed.Count == 0, "The open owner's jobs are all taken.");
        scene.AssertEveryJobAccountedFor(a, b);
    }, output);

    /// <summary>
    /// An owner with three jobs is finished while a worker may be inside it between two of them, its producer may wait in
    /// line, and another owner's job sits among its own: its jobs are taken, set aside or removed, its producer is sent
    /// away, and no job of it is in a worker's hands once the finish returns.
    /// </summary>
    [Fact]
    public void RemoveAll_OwnerFinishedWhileAWorkerIsInsideAndItsProducerWaits_NoJobOutlivesTheFinish() => Systematic.Explore(async () =>
    {
        using var scene = new QueueScene(capacity: 2);
        var a = new ClaimingOwner("a");
        var b = new ClaimingOwner("b");

        Task producerA = Task.Run(() => scene.ProduceAsync(a, [1, 2, 3], CancellationToken.None));
        Task producerB = Task.Run(() => scene.ProduceAsync(b, [11], CancellationToken.None));
        scene.StartWorker();
        scene.StartWorker();
        Task finishA = Task.Run(async () =>
        {
            await Task.Yield();
            await a.FinishAsync(scene.Queue);
        });

        await Task.WhenAll(new[] { producerA, producerB, finishA });
        await scene.StopWorkersAsync();
        await b.FinishAsync(scene.Queue);

        scene.AssertEveryJobAccountedFor(a, b);
    }, output);

    /// <summary>
    /// A producer waits in line for the queue's one place while its token is cancelled and a worker frees the place: the
    /// wait ends true exactly when its job went into the queue. The producer then reuses its waiter for the next job.
    /// </summary>
    /// <remarks>
    /// Fuzzed: the wait disposes its token registration, which blocks while the cancellation callback runs on another task;
    /// Coyote cannot see that wait, and would take a schedule that pauses the callback there for a deadlock.
    /// </remarks>
    [Fact]
    public void WriteAsync_CancelledWhileAWorkerHandsItRoom_TrueExactlyWhenItsJobWasQueued() => Systematic.Explore(async () =>
    {
        using var scene = new QueueScene(capacity: 1);
        var owner = new ClaimingOwner("a");
        var waiter = new JobQueue<ClaimingOwner, int>.Waiter();
        using var cancellation = new CancellationTokenSource();
        scene.Prefill(owner, 0);

        Task<bool> waiting = Task.Run(() => scene.WriteAsync(owner, 1, waiter, cancellation.Token));
        scene.StartWorker();
        Task canceller = Task.Run(cancellation.Cancel);

        await Task.WhenAll(new Task[] { waiting, canceller });
        bool next = await scene.WriteAsync(owner, 2, waiter, CancellationToken.None);
        Specification.Assert(next, "A waiter reused after a cancelled wait is admitted.");
        await scene.StopWorkersAsync();
        await owner.FinishAsync(scene.Queue);

        scene.AssertEveryJobAccountedFor(owner);
    }, output, fuzzing: true);

    /// <summary>
    /// Two jobs wait in line together for room in a full queue of four while their token is cancelled, a producer behind
    /// them waits with one job, and two workers free room: the two go in both or neither, and the producer behind them
    /// is admitted all the same.
    /// </summary>
    /// <remarks>Fuzzed, for the reason given on the test above.</remarks>
    [Fact]
    public void WriteAllAsync_CancelledWhileWorkersFreeRoom_BothJobsOrNeither_AndTheNextProducerIsAdmitted() => Systematic.Explore(async () =>
    {
        using var scene = new QueueScene(capacity: 4);
        var a = new ClaimingOwner("a");
        var b = new ClaimingOwner("b");
        using var cancellation = new CancellationTokenSource();
        for (int job = 0; job < 4; job++)
        {
            scene.Prefill(a, job);
        }

        Task producers = Task.Run(async () =>
        {
            // The pair joins the line before the single job does.
            Task<bool> pair = scene.WriteAllAsync(a, [10, 11], new JobQueue<ClaimingOwner, int>.Waiter(), cancellation.Token);
            Task<bool> single = scene.WriteAsync(b, 20, new JobQueue<ClaimingOwner, int>.Waiter(), CancellationToken.None);
            await Task.WhenAll(new[] { pair, single });
            Specification.Assert(single.Result, "The producer behind the pair is admitted.");
        });
        scene.StartWorker();
        scene.StartWorker();
        Task canceller = Task.Run(cancellation.Cancel);

        await Task.WhenAll(new[] { producers, canceller });
        await scene.StopWorkersAsync();
        await a.FinishAsync(scene.Queue);
        await b.FinishAsync(scene.Queue);

        Specification.Assert(
            scene.Ledger.WasAdmitted(10) == scene.Ledger.WasAdmitted(11),
            $"Jobs that wait together go in together: 10 admitted {scene.Ledger.WasAdmitted(10)}, 11 admitted {scene.Ledger.WasAdmitted(11)}.");
        scene.AssertEveryJobAccountedFor(a, b);
    }, output, fuzzing: true);

    /// <summary>
    /// First come, first served: a job that waits in line (or was written at once) goes into the queue before the job of a
    /// producer that came after it, whether or not its own wait is cancelled meanwhile.
    /// </summary>
    /// <remarks>Fuzzed, for the reason given on the test above.</remarks>
    [Fact]
    public void WriteAsync_ALaterProducer_NeverAdmittedBeforeTheWaitingOne() => Systematic.Explore(async () =>
    {
        using var scene = new QueueScene(capacity: 1);
        var a = new ClaimingOwner("a");
        var b = new ClaimingOwner("b");
        using var cancellation = new CancellationTokenSource();
        scene.Prefill(a, 0);

        scene.StartWorker();
        Task canceller = Task.Run(cancellation.Cancel);
        Task producers = Task.Run(async () =>
        {
            // The first producer joins the line (or the queue) before the second one calls.
            Task<bool> first = scene.WriteAsync(a, 1, new JobQueue<ClaimingOwner, int>.Waiter(), cancellation.Token);
            Task<bool> second = scene.WriteAsync(b, 2, new JobQueue<ClaimingOwner, int>.Waiter(), CancellationToken.None);
            await Task.WhenAll(new[] { first, second });
        });

        await Task.WhenAll(new[] { producers, canceller });
        await scene.StopWorkersAsync();
        await a.FinishAsync(scene.Queue);
        await b.FinishAsync(scene.Queue);

        // Workers stop once both writes have returned, so a job admitted last may be left for its owner's finish. What
        // must never happen is the later producer's job 2 taken while job 1 was admitted and not taken before it.
        List<int> order = [.. scene.Ledger.TakenInOrder];
        bool firstAhead = !scene.Ledger.WasAdmitted(1) || (order.Contains(1) && (!order.Contains(2) || order.IndexOf(1) < order.IndexOf(2)));
        Specification.Assert(
            !order.Contains(2) || firstAhead,
            $"The later producer's job went first: taken [{string.Join(", ", order)}], job 1 admitted: {scene.Ledger.WasAdmitted(1)}.");
        scene.AssertEveryJobAccountedFor(a, b);
    }, output, fuzzing: true);
}
