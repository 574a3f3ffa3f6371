using System.Runtime.CompilerServices;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>
/// The pool-wide queue: its bound, one job taken at a time, closed owners' jobs set aside for their finish, and the
/// admission line: first come first served, room handed over to the first waiter, cancelled waiters out of the way.
/// </summary>
public sealed class JobQueueTests
{
    [Fact]
    public void TryWrite_UpToCapacity_ThenRefusesAndCountsEveryJobAsWaiting()
    {
        var queue = new JobQueue<Owner, int>(3);
        var owner = new Owner("a");

        queue.TryWrite(owner, 1).Should().BeTrue();
        queue.TryWrite(owner, 2).Should().BeTrue();
        queue.TryWrite(owner, 3).Should().BeTrue();

        queue.TryWrite(owner, 4).Should().BeFalse();
        queue.Waiting.Should().Be(3);
        queue.HasQueued.Should().BeTrue();
    }

    [Fact]
    public void TryTake_TakesTheHeadJob_EntersItsOwner_AndItNoLongerCountsAsWaiting()
    {
        var queue = new JobQueue<Owner, int>(10);
        var a = new Owner("a");
        var b = new Owner("b");
        Write(queue, a, 1);
        Write(queue, b, 2);

        queue.TryTake(null, out Owner? owner, out int job).Should().BeTrue();

        owner.Should().BeSameAs(a);
        job.Should().Be(1);
        a.Entered.Should().Be(1);
        queue.Waiting.Should().Be(1, "a taken job is no longer queued");
        queue.TryTake(null, out owner, out job).Should().BeTrue();
        owner.Should().BeSameAs(b);
        job.Should().Be(2);
        queue.Waiting.Should().Be(0);
    }

    [Fact]
    public void TryTake_EmptyQueue_TakesNothingAndEntersNoOwner()
    {
        var queue = new JobQueue<Owner, int>(4);

        queue.TryTake(null, out Owner? owner, out _).Should().BeFalse();

        owner.Should().BeNull();
        queue.HasQueued.Should().BeFalse();
    }

    [Fact]
    public void TryTake_HeadOwnerClosed_SetsItsJobsAsideExitsItOnceAndTakesTheNextOwners()
    {
        var queue = new JobQueue<Owner, int>(10);
        var closed = new Owner("closed");
        var open = new Owner("open");
        Write(queue, closed, 1, 2);
        Write(queue, open, 3);
        closed.Close();

        queue.TryTake(null, out Owner? owner, out int job).Should().BeTrue();

        owner.Should().BeSameAs(open);
        job.Should().Be(3);
        closed.Entered.Should().Be(1);
        closed.Exited.Should().Be(1, "a refused entry is left again, once the queue's lock is released");
        queue.HasQueued.Should().BeFalse("the closed owner's jobs are out of every worker's reach");
        queue.Waiting.Should().Be(2, "set-aside jobs still wait for their owner's finish");

        queue.RemoveAll(closed).Should().Equal(1, 2);
        queue.Waiting.Should().Be(0);
    }

    [Fact]
    public async Task ClosedOwner_QueueRefusesItsJobs_WrittenOrWaitingInLine()
    {
        var queue = new JobQueue<Owner, int>(4);
        var owner = new Owner("a");
        owner.Close();

        queue.TryWrite(owner, 1).Should().BeFalse();
        (await queue.WriteAsync(owner, 1, new JobQueue<Owner, int>.Waiter(), CancellationToken.None).Within()).Should().BeFalse();
        queue.Waiting.Should().Be(0);
        queue.HasQueued.Should().BeFalse();
    }

    [Fact]
    public void RemoveAll_TakesOnlyThatOwnersJobs_AndKeepsTheOthersInOrder()
    {
        var queue = new JobQueue<Owner, int>(20);
        var a = new Owner("a");
        var b = new Owner("b");
        Write(queue, a, 1);
        Write(queue, b, 2);
        Write(queue, a, 3);
        Write(queue, b, 4);
        a.Close();

        queue.RemoveAll(a).Should().Equal(1, 3);
        queue.RemoveAll(a).Should().BeNull("nothing of it is left");

        queue.Waiting.Should().Be(2);
        TakeAll(queue).Should().Equal(2, 4);
    }

    [Fact]
    public async Task RemoveAll_TheOwnersJobsAreCollectableOnceTaken_WhileTheQueueLives()
    {
        var queue = new JobQueue<Owner, object>(20);
        var a = new Owner("a");
        var b = new Owner("b");
        queue.TryWrite(a, new object()).Should().BeTrue();
        WeakReference removed = WriteAndRemove(queue, b);

        (await Reachability.CollectUntilAsync(() => !removed.IsAlive)).Should().BeTrue("the queue keeps no reference to a job it gave away");
        queue.Waiting.Should().Be(1);
        GC.KeepAlive(queue);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference WriteAndRemove(JobQueue<Owner, object> queue, Owner owner)
    {
        var job = new object();
        queue.TryWrite(owner, job).Should().BeTrue();
        owner.Close();
        queue.RemoveAll(owner).Should().ContainSingle().Which.Should().BeSameAs(job);
        return new WeakReference(job);
    }

    [Fact]
    public async Task WriteAsync_AdmittedAfterWaitingInLine_LeavesNothingRegisteredOnTheCallersToken()
    {
        var queue = new JobQueue<Owner, int>(1);
        var a = new Owner("a");
        using var longLived = new CancellationTokenSource();
        Write(queue, a, 1);

        WeakReference waiter = await WaitInLineAndDropAsync(queue, a, longLived.Token);

        (await Reachability.CollectUntilAsync(() => !waiter.IsAlive)).Should().BeTrue(
            "once its wait has ended, the caller's long-lived token holds no registration of the waiter");
        TakeAll(queue).Should().Equal(2);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> WaitInLineAndDropAsync(JobQueue<Owner, int> queue, Owner owner, CancellationToken token)
    {
        var waiter = new JobQueue<Owner, int>.Waiter();
        ValueTask<bool> write = queue.WriteAsync(owner, 2, waiter, token);
        write.IsCompleted.Should().BeFalse("the queue is full");
        queue.TryTake(null, out _, out int first).Should().BeTrue();
        first.Should().Be(1);
        (await write.Within()).Should().BeTrue();
        return new WeakReference(waiter);
    }

    [Fact]
    public void Ring_GrowsPastItsFirstSize_KeepingOrderAcrossTheWrap()
    {
        var queue = new JobQueue<Owner, int>(1000);
        var owner = new Owner("a");
        Write(queue, owner, Enumerable.Range(0, 10).ToArray());
        for (int i = 0; i < 6; i++)
        {
            queue.TryTake(null, out _, out _).Should().BeTrue();
        }

        Write(queue, owner, Enumerable.Range(10, 40).ToArray());

        TakeAll(queue).Should().Equal(Enumerable.Range(6, 44));
        queue.Waiting.Should().Be(0);
    }

    [Fact]
    public async Task WriteAsync_QueueFull_HandedTheFirstRoomThatFrees_ItsJobWrittenBeforeItWakes()
    {
        var queue = new JobQueue<Owner, int>(2);
        var owner = new Owner("a");
        Write(queue, owner, 1, 2);

        ValueTask<bool> write = queue.WriteAsync(owner, 3, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        write.IsCompleted.Should().BeFalse("the queue is full");
        queue.WaitingForRoom.Should().Be(1);

        queue.TryTake(null, out _, out _).Should().BeTrue();

        queue.Waiting.Should().Be(2, "the freed room went to the waiter's job at once");
        queue.WaitingForRoom.Should().Be(0);
        (await write.Within()).Should().BeTrue();
        TakeAll(queue).Should().Equal(2, 3);
    }

    [Fact]
    public async Task WriteAsync_QueueOfEightFull_AdmittedOnlyOnceHalfTheQueueIsTaken()
    {
        var queue = new JobQueue<Owner, int>(8);
        var owner = new Owner("a");
        Write(queue, owner, 0, 1, 2, 3, 4, 5, 6, 7);
        ValueTask<bool> write = queue.WriteAsync(owner, 8, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);

        for (int i = 0; i < 3; i++)
        {
            queue.TryTake(null, out _, out _).Should().BeTrue();
            queue.WaitingForRoom.Should().Be(1, "the line waits until the queue falls to its low-water mark of 4");
            queue.FreeRoom.Should().Be(0, "nobody writes past a waiter");
        }

        queue.TryTake(null, out _, out _).Should().BeTrue();

        queue.WaitingForRoom.Should().Be(0);
        (await write.Within()).Should().BeTrue();
        queue.Waiting.Should().Be(5);
        queue.FreeRoom.Should().Be(3, "the admitted producer finds room for more jobs without waiting again");
    }

    [Fact]
    public async Task WriteAsync_TwoProducersWaitInLine_TheFirstIsAdmittedAtTheNextTakeAndTheLastAtTheLowWaterMark()
    {
        var queue = new JobQueue<Owner, int>(64);
        var owners = new[] { new Owner("a"), new Owner("b") };
        Write(queue, owners[0], [.. Enumerable.Range(0, 64)]);
        ValueTask<bool> first = queue.WriteAsync(owners[0], 64, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        ValueTask<bool> second = queue.WriteAsync(owners[1], 65, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);

        queue.TryTake(null, out _, out _).Should().BeTrue();
        (await first.Within()).Should().BeTrue("with two waiting, the room of each job taken goes to the line at once");
        second.IsCompleted.Should().BeFalse("the queue is full again");
        queue.Waiting.Should().Be(64);

        // A line of one waits for the low-water mark, half the capacity, as a lone producer always has.
        for (int i = 0; i < 31; i++)
        {
            queue.TryTake(null, out _, out _).Should().BeTrue();
        }

        queue.WaitingForRoom.Should().Be(1);
        queue.TryTake(null, out _, out _).Should().BeTrue();
        queue.WaitingForRoom.Should().Be(0);
        (await second.Within()).Should().BeTrue();
        TakeAll(queue).Should().Equal([.. Enumerable.Range(33, 33)]);
    }

    [Fact]
    public async Task WriteAsync_LargeQueueFull_AdmittedOnceHalfTheQueueIsTaken()
    {
        var queue = new JobQueue<Owner, int>(1024);
        var owner = new Owner("a");
        Write(queue, owner, [.. Enumerable.Range(0, 1024)]);
        ValueTask<bool> write = queue.WriteAsync(owner, 1024, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);

        for (int i = 0; i < 511; i++)
        {
            queue.TryTake(null, out _, out _).Should().BeTrue();
        }

        queue.WaitingForRoom.Should().Be(1, "a lone producer waits until half the queue is free, however large the queue");
        queue.TryTake(null, out _, out _).Should().BeTrue();

        queue.WaitingForRoom.Should().Be(0);
        (await write.Within()).Should().BeTrue();
        queue.FreeRoom.Should().Be(511, "the admitted producer finds room for half the queue without waiting again");
    }

    [Fact]
    public void TryWriteMany_MoreThanRoom_WritesWhatFitsInOrderAndReportsHowMany()
    {
        var queue = new JobQueue<Owner, int>(4);
        var owner = new Owner("a");
        Write(queue, owner, 0);

        queue.TryWriteMany(owner, [1, 2, 3, 4, 5]).Should().Be(3);

        queue.Waiting.Should().Be(4);
        queue.FreeRoom.Should().Be(0);
        queue.TryWriteMany(owner, [6]).Should().Be(0);
        TakeAll(queue).Should().Equal(0, 1, 2, 3);
    }

    [Fact]
    public async Task TryWriteMany_ProducerWaitsInLineOrOwnerClosed_WritesNothing()
    {
        var queue = new JobQueue<Owner, int>(2);
        var owner = new Owner("a");
        var closed = new Owner("closed");
        closed.Close();
        Write(queue, owner, 0, 1);
        ValueTask<bool> waiting = queue.WriteAsync(owner, 2, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        queue.TryTake(null, out _, out _).Should().BeTrue();
        (await waiting.Within()).Should().BeTrue();
        queue.TryTake(null, out _, out _).Should().BeTrue();

        queue.TryWriteMany(closed, [9]).Should().Be(0, "a closed owner's jobs are refused");
        queue.TryWriteMany(owner, [3, 4]).Should().Be(1, "one place is left");
        TakeAll(queue).Should().Equal(2, 3);
    }

    [Fact]
    public async Task TryWrite_ProducerWaitsInLine_ALaterWriterDoesNotGoFirst()
    {
        var queue = new JobQueue<Owner, int>(1);
        var first = new Owner("first");
        var later = new Owner("later");
        Write(queue, first, 1);
        ValueTask<bool> waiting = queue.WriteAsync(first, 2, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);

        queue.TryTake(null, out _, out _).Should().BeTrue();

        queue.TryWrite(later, 3).Should().BeFalse("the room went to the waiter that came first");
        (await waiting.Within()).Should().BeTrue();
        TakeAll(queue).Should().Equal(2);
        queue.TryWrite(later, 3).Should().BeTrue("nobody waits any more and there is room");
    }

    [Fact]
    public async Task WriteAsync_ManyProducersWaiting_AdmittedInTheOrderTheyCame()
    {
        var queue = new JobQueue<Owner, int>(1);
        var owners = Enumerable.Range(0, 5).Select(i => new Owner($"o{i}")).ToArray();
        Write(queue, owners[0], -1);
        var writes = new List<Task<bool>>();
        for (int i = 0; i < owners.Length; i++)
        {
            writes.Add(queue.WriteAsync(owners[i], i, new JobQueue<Owner, int>.Waiter(), CancellationToken.None).AsTask());
        }

        queue.WaitingForRoom.Should().Be(5);
        var order = new List<int>();
        while (queue.TryTake(null, out _, out int job))
        {
            order.Add(job);
        }

        order.Should().Equal(-1, 0, 1, 2, 3, 4);
        foreach (Task<bool> write in writes)
        {
            (await write.Within()).Should().BeTrue();
        }
    }

    [Fact]
    public async Task WriteAsync_OneWaiterForSeveralWaits_EachWaitEndsWhenItsRoomComes()
    {
        var queue = new JobQueue<Owner, int>(1);
        var owner = new Owner("a");
        var waiter = new JobQueue<Owner, int>.Waiter();
        Write(queue, owner, 0);

        for (int job = 1; job <= 3; job++)
        {
            ValueTask<bool> write = queue.WriteAsync(owner, job, waiter, CancellationToken.None);
            write.IsCompleted.Should().BeFalse("the queue is full");
            queue.TryTake(null, out _, out int taken).Should().BeTrue();
            taken.Should().Be(job - 1);
            (await write.Within()).Should().BeTrue();
        }
    }

    [Fact]
    public async Task WriteAsync_QueueFullThenCancelled_ReturnsFalseLeavesTheLineAndWritesNothing()
    {
        var queue = new JobQueue<Owner, int>(1);
        var owner = new Owner("a");
        Write(queue, owner, 1);
        using var cts = new CancellationTokenSource();

        ValueTask<bool> write = queue.WriteAsync(owner, 2, new JobQueue<Owner, int>.Waiter(), cts.Token);
        write.IsCompleted.Should().BeFalse();
        await cts.CancelAsync();

        (await write.Within()).Should().BeFalse();
        queue.WaitingForRoom.Should().Be(0, "a cancelled waiter leaves the line at once");
        queue.Waiting.Should().Be(1);
    }

    [Fact]
    public async Task WriteAsync_ProducersAheadOfItCancelled_TheRoomGoesToTheNextProducer()
    {
        var queue = new JobQueue<Owner, int>(2);
        var owner = new Owner("a");
        Write(queue, owner, 1, 2);
        using var cancelledCts = new CancellationTokenSource();
        Task<bool>[] cancelled =
        [
            queue.WriteAsync(owner, 3, new JobQueue<Owner, int>.Waiter(), cancelledCts.Token).AsTask(),
            queue.WriteAsync(owner, 4, new JobQueue<Owner, int>.Waiter(), cancelledCts.Token).AsTask(),
            queue.WriteAsync(owner, 5, new JobQueue<Owner, int>.Waiter(), cancelledCts.Token).AsTask(),
        ];
        ValueTask<bool> live = queue.WriteAsync(owner, 6, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        await cancelledCts.CancelAsync();
        foreach (Task<bool> write in cancelled)
        {
            (await write.Within()).Should().BeFalse();
        }

        queue.TryTake(null, out _, out _).Should().BeTrue();

        (await live.Within()).Should().BeTrue("cancelled producers must not hold up the one behind them");
        TakeAll(queue).Should().Equal(2, 6);
    }

    [Fact]
    public async Task WriteAllAsync_QueueFull_WaitsUntilThereIsRoomForAllItsJobs_ThenWritesThemTogetherInOrder()
    {
        var queue = new JobQueue<Owner, int>(8);
        var a = new Owner("a");
        var b = new Owner("b");
        var c = new Owner("c");
        Write(queue, a, 0, 1, 2, 3, 4, 5, 6, 7);
        queue.MaxWaitingBatch.Should().Be(4, "the room between the low-water mark and the capacity");

        ValueTask<bool> three = queue.WriteAllAsync(b, [-1, 10, 11, 12], offset: 1, count: 3, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        ValueTask<bool> one = queue.WriteAsync(c, 20, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        queue.WaitingForRoom.Should().Be(2);

        // A line of two is admitted at every take, but the head waiter needs room for its three jobs, and nobody behind
        // it goes first.
        for (int taken = 1; taken <= 2; taken++)
        {
            queue.TryTake(null, out _, out _).Should().BeTrue();
            three.IsCompleted.Should().BeFalse("{0} free place(s) are not room for three jobs", taken);
            one.IsCompleted.Should().BeFalse("the producer behind the first one waits for its turn");
        }

        queue.TryTake(null, out _, out _).Should().BeTrue();

        (await three.Within()).Should().BeTrue();
        queue.Waiting.Should().Be(8, "the three jobs were written as the room came");
        one.IsCompleted.Should().BeFalse("the queue is full again");
        TakeAll(queue).Should().Equal(3, 4, 5, 6, 7, 10, 11, 12, 20);
        (await one.Within()).Should().BeTrue("alone in line, it was admitted at the low-water mark");
    }

    [Fact]
    public async Task WriteAllAsync_QueueHasRoomForAll_WritesThemAtOnce_AndWithRoomForFewerItWaitsWithAll()
    {
        var queue = new JobQueue<Owner, int>(8);
        var owner = new Owner("a");
        Write(queue, owner, 0, 1, 2, 3, 4);

        ValueTask<bool> fits = queue.WriteAllAsync(owner, [5, 6], offset: 0, count: 2, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        fits.IsCompletedSuccessfully.Should().BeTrue();
        (await fits).Should().BeTrue();

        ValueTask<bool> waits = queue.WriteAllAsync(owner, [7, 8], offset: 0, count: 2, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        waits.IsCompleted.Should().BeFalse("one place is free, and it waits for room for both");
        queue.Waiting.Should().Be(7, "none of its jobs was written");
    }

    [Fact]
    public async Task WriteAllAsync_HeadWaiterCancelled_TheWaiterBehindItThatFitsIsAdmittedAtOnce()
    {
        var queue = new JobQueue<Owner, int>(8);
        var a = new Owner("a");
        Write(queue, a, 0, 1, 2, 3, 4, 5, 6, 7);
        using var cts = new CancellationTokenSource();
        ValueTask<bool> four = queue.WriteAllAsync(a, [10, 11, 12, 13], offset: 0, count: 4, new JobQueue<Owner, int>.Waiter(), cts.Token);
        ValueTask<bool> one = queue.WriteAsync(new Owner("b"), 20, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        ValueTask<bool> last = queue.WriteAsync(new Owner("c"), 30, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        queue.TryTake(null, out _, out _).Should().BeTrue();
        one.IsCompleted.Should().BeFalse("it waits behind the first producer");

        await cts.CancelAsync();

        (await four.Within()).Should().BeFalse();
        (await one.Within()).Should().BeTrue("the free place is room enough for its one job, and two producers waited");
        last.IsCompleted.Should().BeFalse("the queue is full again");
        queue.WaitingForRoom.Should().Be(1);
        TakeAll(queue).Should().Equal(1, 2, 3, 4, 5, 6, 7, 20, 30);
        (await last.Within()).Should().BeTrue();
    }

    [Fact]
    public async Task WriteAllAsync_OwnerClosedWhileItWaits_FalseAndNoneOfItsJobsWritten()
    {
        var queue = new JobQueue<Owner, int>(4);
        var gone = new Owner("gone");
        var other = new Owner("other");
        Write(queue, other, 0, 1, 2, 3);
        ValueTask<bool> write = queue.WriteAllAsync(gone, [10, 11], offset: 0, count: 2, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);

        gone.Close();
        queue.RemoveAll(gone).Should().BeNull();

        (await write.Within()).Should().BeFalse();
        queue.TryTake(null, out _, out _).Should().BeTrue();
        queue.TryTake(null, out _, out _).Should().BeTrue();
        TakeAll(queue).Should().Equal(2, 3);
        queue.WaitingForRoom.Should().Be(0);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void WriteAllAsync_NoJobsOrMoreThanHalfTheQueue_Throws(int count)
    {
        var queue = new JobQueue<Owner, int>(8);

        Action write = () => queue.WriteAllAsync(new Owner("a"), new int[8], offset: 0, count, new JobQueue<Owner, int>.Waiter(), CancellationToken.None).AsTask();

        write.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("count");
        queue.Waiting.Should().Be(0);
    }

    [Fact]
    public async Task WriteAllAsync_ClosedOwnersWaiterAtTheHead_IsSentAwayAtTheNextTake_AndDoesNotHoldUpTheOneBehind()
    {
        var queue = new JobQueue<Owner, int>(8);
        var a = new Owner("a");
        var gone = new Owner("gone");
        Write(queue, a, 0, 1, 2, 3, 4, 5, 6, 7);
        ValueTask<bool> four = queue.WriteAllAsync(gone, [10, 11, 12, 13], offset: 0, count: 4, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        ValueTask<bool> one = queue.WriteAsync(new Owner("b"), 20, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);

        // Closed, but not yet removed: its run's finish calls RemoveAll later. Its waiter needs no room to be sent away.
        gone.Close();
        queue.TryTake(null, out _, out _).Should().BeTrue();

        (await four.Within()).Should().BeFalse("its owner closed while it waited");
        (await one.Within()).Should().BeTrue("the one free place is its room");
        queue.WaitingForRoom.Should().Be(0);
        TakeAll(queue).Should().Equal(1, 2, 3, 4, 5, 6, 7, 20);
    }

    [Fact]
    public async Task RemoveAll_FreesRoom_AdmitsTheWaitersAndSendsTheClosedOwnersOwnAway()
    {
        var queue = new JobQueue<Owner, int>(2);
        var gone = new Owner("gone");
        var other = new Owner("other");
        Write(queue, gone, 1, 2);
        ValueTask<bool> goneWrite = queue.WriteAsync(gone, 3, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        ValueTask<bool> otherWrite = queue.WriteAsync(other, 4, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        goneWrite.IsCompleted.Should().BeFalse();
        otherWrite.IsCompleted.Should().BeFalse();

        gone.Close();
        queue.RemoveAll(gone).Should().Equal(1, 2);

        (await goneWrite.Within()).Should().BeFalse("its owner is closed: the job stays with its producer");
        (await otherWrite.Within()).Should().BeTrue();
        TakeAll(queue).Should().Equal(4);
    }

    [Fact]
    public void TryTake_CallerInsideTheHeadOwner_TakesItsJobWithoutEnteringAgain()
    {
        var queue = new JobQueue<Owner, int>(10);
        var owner = new Owner("a");
        Write(queue, owner, 1, 2);
        queue.TryTake(null, out Owner? first, out _).Should().BeTrue();

        queue.TryTake(first, out Owner? second, out int job).Should().BeTrue();

        second.Should().BeSameAs(owner);
        job.Should().Be(2);
        owner.Entered.Should().Be(1, "the worker is inside the owner already");
    }

    [Fact]
    public void TryTake_CallerInsideAnOwnerThatClosed_SetsItsJobsAsideAndLeavesTheExitToTheCaller()
    {
        var queue = new JobQueue<Owner, int>(10);
        var closing = new Owner("closing");
        var other = new Owner("other");
        Write(queue, closing, 1, 2);
        Write(queue, other, 3);
        queue.TryTake(null, out Owner? inside, out _).Should().BeTrue();
        closing.Close();

        queue.TryTake(inside, out Owner? owner, out int job).Should().BeTrue();

        owner.Should().BeSameAs(other);
        job.Should().Be(3);
        closing.Entered.Should().Be(1);
        closing.Exited.Should().Be(0, "the caller entered it, and leaves it itself");
        queue.RemoveAll(closing).Should().Equal(2);
    }

    [Fact]
    public void HasQueuedNow_TrueWhileAJobIsQueued_FalseOnceItIsTaken()
    {
        var queue = new JobQueue<Owner, int>(4);
        queue.HasQueuedNow().Should().BeFalse();
        Write(queue, new Owner("a"), 1);

        queue.HasQueuedNow().Should().BeTrue();
        queue.TryTake(null, out _, out _).Should().BeTrue();
        queue.HasQueuedNow().Should().BeFalse();
    }

    [Fact]
    public async Task WriteAsync_OneByOneBeyondSixteenJobs_KeepsEveryJobInOrder()
    {
        var queue = new JobQueue<Owner, int>(32);
        var owner = new Owner("a");
        var waiter = new JobQueue<Owner, int>.Waiter();

        for (int job = 1; job <= 20; job++)
        {
            (await queue.WriteAsync(owner, job, waiter, CancellationToken.None).Within()).Should().BeTrue();
        }

        TakeAll(queue).Should().Equal(Enumerable.Range(1, 20));
    }

    internal static void Write(JobQueue<Owner, int> queue, Owner owner, params int[] jobs)
    {
        foreach (int job in jobs)
        {
            queue.TryWrite(owner, job).Should().BeTrue();
        }
    }

    internal static List<int> TakeAll(JobQueue<Owner, int> queue)
    {
        var taken = new List<int>();
        while (queue.TryTake(null, out _, out int job))
        {
            taken.Add(job);
        }

        return taken;
    }

    /// <summary>A run, as the queue sees it: counts entries and exits, and can be closed.</summary>
    internal sealed class Owner(string name) : IJobQueueOwner
    {
        private int _closed;

        public int Entered { get; private set; }

        public int Exited { get; private set; }

        public bool IsClosed => Volatile.Read(ref _closed) != 0;

        public bool TryEnter()
        {
            Entered++;
            return !IsClosed;
        }

        public void Exit() => Exited++;

        public void Close() => Volatile.Write(ref _closed, 1);

        public override string ToString() => name;
    }
}
