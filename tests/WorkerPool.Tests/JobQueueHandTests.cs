using System.Runtime.CompilerServices;
using WorkerPool.Tests.Support;
using static WorkerPool.Tests.JobQueueTests;

namespace WorkerPool.Tests;

/// <summary>
/// Workers' hands (WorkerBatchSize above 1): a worker takes more jobs of one owner with its first, at most a quarter of
/// the queue; they hold their room until released; the holder claims them one at a time, an idle worker steals the ones
/// left, and a hand given back puts them at the head of the queue, in order, or ends them if their owner closed.
/// </summary>
public sealed class JobQueueHandTests
{
    [Fact]
    public void TryTake_FillingAHand_TakesTheSameOwnersNextJobsUpToAQuarterOfTheQueue_AndTheyKeepTheirRoom()
    {
        var queue = new JobQueue<Owner, int>(64, handSize: 7);
        var a = new Owner("a");
        var b = new Owner("b");
        Write(queue, a, [.. Enumerable.Range(0, 20)]);
        Write(queue, b, 20);
        JobQueue<Owner, int>.Hand hand = queue.NewHand();

        queue.TryTake(null, hand, fill: true, out Owner? owner, out int first).Should().BeTrue();

        owner.Should().BeSameAs(a);
        first.Should().Be(0);
        hand.Owner.Should().BeSameAs(a);
        hand.Held.Should().Be(5, "21 jobs were queued: a quarter of them, 5, may go into the hand");
        ClaimAll(hand).Should().Equal(1, 2, 3, 4, 5);
        queue.Waiting.Should().Be(20, "the jobs of a hand hold their room until the holder comes back to the queue");
        a.Entered.Should().Be(1, "one entry covers the whole hand");

        queue.TryTake(a, hand, fill: false, out owner, out int next).Should().BeTrue();

        next.Should().Be(6);
        queue.Waiting.Should().Be(14, "the hand's five jobs and the job just taken gave their room back");
        hand.Held.Should().Be(0);
    }

    [Fact]
    public void TryTake_FillingAHand_StopsAtAnotherOwnersJob()
    {
        var queue = new JobQueue<Owner, int>(64, handSize: 7);
        var a = new Owner("a");
        var b = new Owner("b");
        Write(queue, a, 0, 1, 2);
        Write(queue, b, [.. Enumerable.Range(3, 30)]);
        JobQueue<Owner, int>.Hand hand = queue.NewHand();

        queue.TryTake(null, hand, fill: true, out Owner? owner, out int first).Should().BeTrue();

        owner.Should().BeSameAs(a);
        first.Should().Be(0);
        ClaimAll(hand).Should().Equal(1, 2);
        b.Entered.Should().Be(0);
    }

    [Fact]
    public void TryTake_WithoutFill_TakesOneJob()
    {
        var queue = new JobQueue<Owner, int>(64, handSize: 7);
        var a = new Owner("a");
        Write(queue, a, [.. Enumerable.Range(0, 40)]);
        JobQueue<Owner, int>.Hand hand = queue.NewHand();

        queue.TryTake(null, hand, fill: false, out _, out int first).Should().BeTrue();

        first.Should().Be(0);
        hand.Held.Should().Be(0);
        queue.Waiting.Should().Be(39);
    }

    [Fact]
    public void TryTake_QueueEmpty_StealsTheNextUnclaimedJobOfAnotherWorkersHand_AndEachJobIsClaimedOnce()
    {
        var queue = new JobQueue<Owner, int>(64, handSize: 7);
        var a = new Owner("a");
        Write(queue, a, [.. Enumerable.Range(0, 12)]);
        JobQueue<Owner, int>.Hand holder = queue.NewHand();
        queue.TryTake(null, holder, fill: true, out _, out _).Should().BeTrue();
        holder.Held.Should().Be(3);
        Take(queue, 8).Should().Equal([.. Enumerable.Range(4, 8)]);
        holder.TryTakeNext(out int own).Should().BeTrue();
        own.Should().Be(1);
        queue.HasQueuedNow().Should().BeTrue("a job waits in a hand, and a worker about to retire must take it");

        queue.TryTake(null, out Owner? owner, out int stolen).Should().BeTrue("an idle worker takes what another worker holds");

        owner.Should().BeSameAs(a);
        stolen.Should().Be(2);
        holder.TryTakeNext(out own).Should().BeTrue();
        own.Should().Be(3, "the stolen job is not the holder's any more");
        holder.TryTakeNext(out _).Should().BeFalse();
        queue.HasQueuedNow().Should().BeFalse();
        queue.TryTake(null, out _, out _).Should().BeFalse();

        queue.TryTake(a, holder, fill: false, out _, out _).Should().BeFalse();
        queue.Waiting.Should().Be(0, "the holder released its two jobs, and the thief's job gave its room back when stolen");
    }

    [Fact]
    public void TryTake_QueueEmpty_LeavesAClosedOwnersHandToItsHolder()
    {
        var queue = new JobQueue<Owner, int>(64, handSize: 7);
        var a = new Owner("a");
        Write(queue, a, [.. Enumerable.Range(0, 8)]);
        JobQueue<Owner, int>.Hand holder = queue.NewHand();
        queue.TryTake(null, holder, fill: true, out _, out _).Should().BeTrue();
        holder.Held.Should().Be(2);
        Take(queue, 5).Should().Equal(3, 4, 5, 6, 7);
        a.Close();
        int exited = a.Exited;

        queue.TryTake(null, out Owner? owner, out _).Should().BeFalse("the holder, inside the closed owner, ends its jobs");

        owner.Should().BeNull();
        a.Exited.Should().Be(exited + 1, "the refused entry is left again");
        holder.HasUnclaimed.Should().BeTrue();
    }

    [Fact]
    public void HasQueuedNow_OnlyAClosedOwnersJobsLeftInAHand_IsFalse_SoAnIdleWorkerRetiresInsteadOfSpinning()
    {
        var queue = new JobQueue<Owner, int>(64, handSize: 7);
        var a = new Owner("a");
        Write(queue, a, [.. Enumerable.Range(0, 8)]);
        JobQueue<Owner, int>.Hand holder = queue.NewHand();
        queue.TryTake(null, holder, fill: true, out _, out _).Should().BeTrue();
        Take(queue, 5).Should().Equal(3, 4, 5, 6, 7);
        queue.HasQueuedNow().Should().BeTrue("an open owner's job waits in the hand: a worker must stay to take it");

        a.Close();

        queue.HasQueuedNow().Should().BeFalse("the holder, inside the closed owner, ends its jobs itself");
        holder.HasUnclaimed.Should().BeTrue();
    }

    [Fact]
    public void ReturnHand_PutsTheUnclaimedJobsBackAtTheHeadInOrder_AndReleasesTheClaimedOnes()
    {
        var queue = new JobQueue<Owner, int>(64, handSize: 7);
        var a = new Owner("a");
        var b = new Owner("b");
        Write(queue, a, [.. Enumerable.Range(0, 28)]);
        Write(queue, b, 28);
        JobQueue<Owner, int>.Hand hand = queue.NewHand();
        queue.TryTake(null, hand, fill: true, out _, out _).Should().BeTrue();
        hand.Held.Should().Be(7);
        hand.TryTakeNext(out int own).Should().BeTrue();
        own.Should().Be(1);

        queue.ReturnHand(hand, out List<int>? unstarted).Should().Be(6);

        unstarted.Should().BeNull();
        hand.Held.Should().Be(0);
        queue.Waiting.Should().Be(27, "the first job and the one claimed from the hand no longer hold room");
        TakeAll(queue).Should().Equal([.. Enumerable.Range(2, 27)], "the jobs given back go first, in order, then b's");
    }

    [Fact]
    public void ReturnHand_WhileOthersJobsRefilledTheQueue_MakesRoomForTheJobsGivenBack_AndLosesNone()
    {
        var queue = new JobQueue<Owner, int>(64, handSize: 7);
        var a = new Owner("a");
        var b = new Owner("b");
        Write(queue, a, [.. Enumerable.Range(0, 16)]);
        JobQueue<Owner, int>.Hand hand = queue.NewHand();
        queue.TryTake(null, hand, fill: true, out _, out int first).Should().BeTrue();
        first.Should().Be(0);
        hand.Held.Should().Be(4, "16 jobs were queued: a quarter of them may go into the hand");
        // The ring of a queue of 64 starts with 16 places: 11 of a's jobs wait in it, and now 5 of b's fill it.
        Write(queue, b, [.. Enumerable.Range(100, 5)]);

        queue.ReturnHand(hand, out List<int>? unstarted).Should().Be(4);

        unstarted.Should().BeNull();
        queue.Waiting.Should().Be(20, "only the first job, taken, gave its room back");
        TakeAll(queue).Should().Equal([.. Enumerable.Range(1, 15), .. Enumerable.Range(100, 5)]);
    }

    [Fact]
    public async Task ReturnHand_TheJobsGivenBackAreCollectableOnceTaken_WhileTheHandLives()
    {
        var queue = new JobQueue<Owner, object>(64, handSize: 7);
        JobQueue<Owner, object>.Hand hand = queue.NewHand();
        WeakReference[] jobs = FillGiveBackAndTake(queue, hand);

        (await Reachability.CollectUntilAsync(() => !jobs.Any(job => job.IsAlive))).Should().BeTrue(
            "a hand keeps no reference to the jobs it gave back");
        hand.Held.Should().Be(0);
        GC.KeepAlive(queue);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference[] FillGiveBackAndTake(JobQueue<Owner, object> queue, JobQueue<Owner, object>.Hand hand)
    {
        var a = new Owner("a");
        object[] jobs = [.. Enumerable.Range(0, 8).Select(_ => new object())];
        foreach (object job in jobs)
        {
            queue.TryWrite(a, job).Should().BeTrue();
        }

        queue.TryTake(null, hand, fill: true, out _, out _).Should().BeTrue();
        hand.Held.Should().Be(2, "8 jobs were queued: a quarter of them may go into the hand");
        queue.ReturnHand(hand, out _).Should().Be(2);
        while (queue.TryTake(null, out _, out _))
        {
        }

        return [.. jobs.Select(job => new WeakReference(job))];
    }

    [Fact]
    public void ReturnHand_OwnerClosed_HandsTheJobsBackToEndUnstarted_AndTheyLeaveTheQueue()
    {
        var queue = new JobQueue<Owner, int>(64, handSize: 7);
        var a = new Owner("a");
        Write(queue, a, [.. Enumerable.Range(0, 28)]);
        JobQueue<Owner, int>.Hand hand = queue.NewHand();
        queue.TryTake(null, hand, fill: true, out _, out _).Should().BeTrue();
        a.Close();
        queue.RemoveAll(a).Should().HaveCount(20);

        queue.ReturnHand(hand, out List<int>? unstarted).Should().Be(0);

        unstarted.Should().Equal(1, 2, 3, 4, 5, 6, 7);
        queue.Waiting.Should().Be(0);
        queue.HasQueuedNow().Should().BeFalse();
    }

    /// <summary>
    /// The holder releases its hand as it comes back to the queue for its next job, or by giving the hand back (its job
    /// has to wait, or it retires): either way the room of the jobs it claimed comes back, and the line is admitted.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReleasingAHand_FreesRoomForTheLine(bool givenBack)
    {
        var queue = new JobQueue<Owner, int>(8, handSize: 7);
        var a = new Owner("a");
        Write(queue, a, [.. Enumerable.Range(0, 8)]);
        ValueTask<bool> write = queue.WriteAsync(a, 8, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        JobQueue<Owner, int>.Hand hand = queue.NewHand();
        queue.TryTake(null, hand, fill: true, out _, out _).Should().BeTrue();
        ClaimAll(hand).Should().Equal(1, 2);
        Take(queue, 1).Should().Equal(3);
        write.IsCompleted.Should().BeFalse("the hand's two jobs still hold their room: 6 of 8 places are taken, above the mark of 4");

        if (givenBack)
        {
            queue.ReturnHand(hand, out List<int>? unstarted).Should().Be(0, "every job of the hand was claimed");
            unstarted.Should().BeNull();
        }
        else
        {
            queue.TryTake(a, hand, fill: false, out _, out int next).Should().BeTrue();
            next.Should().Be(4);
        }

        (await write.Within()).Should().BeTrue("the hand's room came back, and the queue fell to its low-water mark");
        TakeAll(queue).Should().Equal(givenBack ? [4, 5, 6, 7, 8] : [5, 6, 7, 8]);
    }

    /// <summary>Takes exactly <paramref name="count"/> jobs, one at a time.</summary>
    private static List<int> Take(JobQueue<Owner, int> queue, int count)
    {
        var taken = new List<int>();
        for (int i = 0; i < count; i++)
        {
            queue.TryTake(null, out _, out int job).Should().BeTrue();
            taken.Add(job);
        }

        return taken;
    }

    private static List<int> ClaimAll(JobQueue<Owner, int>.Hand hand)
    {
        var claimed = new List<int>();
        while (hand.TryTakeNext(out int job))
        {
            claimed.Add(job);
        }

        return claimed;
    }
}
