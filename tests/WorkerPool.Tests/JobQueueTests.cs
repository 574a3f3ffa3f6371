using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>
/// The pool-wide queue: its bound, batches of one owner's consecutive jobs, jobs given back, closed owners' jobs set
/// aside for their finish, and producers woken only once half the queue has drained.
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
    public void TryTake_TakesConsecutiveJobsOfTheHeadOwnerOnly_AndTheyWaitUntilReleased()
    {
        var queue = new JobQueue<Owner, int>(10);
        var a = new Owner("a");
        var b = new Owner("b");
        Write(queue, a, 1, 2);
        Write(queue, b, 3);
        Write(queue, a, 4);
        var buffer = new int[8];

        int taken = queue.TryTake(buffer, sharers: 1, started: 0, out Owner? owner);

        owner.Should().BeSameAs(a);
        buffer[..taken].Should().Equal(1, 2);
        a.Entered.Should().Be(1);
        queue.Waiting.Should().Be(4, "taken jobs wait until they start");
        queue.Release(2);
        queue.Waiting.Should().Be(2);

        queue.TryTake(buffer, sharers: 1, started: 0, out owner).Should().Be(1);
        owner.Should().BeSameAs(b);
        buffer[0].Should().Be(3);
    }

    [Fact]
    public void TryTake_OtherWorkersShare_TakesAtMostItsShareAndAtMostTheBuffer()
    {
        var queue = new JobQueue<Owner, int>(100);
        var owner = new Owner("a");
        Write(queue, owner, Enumerable.Range(0, 10).ToArray());

        queue.TryTake(new int[64], sharers: 2, started: 0, out _).Should().Be(5, "half of the 10 queued jobs, for 2 workers");
        queue.TryTake(new int[2], sharers: 1, started: 0, out _).Should().Be(2, "the buffer holds 2");
        queue.TryTake(new int[64], sharers: 4, started: 0, out _).Should().Be(1, "3 queued jobs shared by 4 workers: at least one each");
    }

    [Fact]
    public void TryTake_EmptyQueue_TakesNothingAndEntersNoOwner()
    {
        var queue = new JobQueue<Owner, int>(4);

        queue.TryTake(new int[4], sharers: 1, started: 0, out Owner? owner).Should().Be(0);

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

        int taken = queue.TryTake(new int[8], sharers: 1, started: 0, out Owner? owner);

        taken.Should().Be(1);
        owner.Should().BeSameAs(open);
        closed.Entered.Should().Be(1);
        closed.Exited.Should().Be(1, "a refused entry is left again, once the queue's lock is released");
        queue.HasQueued.Should().BeFalse("the closed owner's jobs are out of every worker's reach");
        queue.Waiting.Should().Be(3, "set-aside jobs still wait for their owner's finish");

        queue.RemoveAll(closed).Should().Equal(1, 2);
        queue.Waiting.Should().Be(1);
    }

    [Fact]
    public void ClosedOwner_QueueRefusesItsJobs_WrittenOrGivenBack()
    {
        var queue = new JobQueue<Owner, int>(4);
        var owner = new Owner("a");
        Write(queue, owner, 1);
        var buffer = new int[4];
        queue.TryTake(buffer, sharers: 1, started: 0, out _).Should().Be(1);
        owner.Close();

        queue.TryWrite(owner, 2).Should().BeFalse();
        queue.Return(owner, buffer.AsSpan(0, 1)).Should().BeFalse("the jobs stay with the worker, which ends them itself");
        queue.HasQueued.Should().BeFalse();
    }

    [Fact]
    public async Task WriteAsync_ClosedOwner_ReturnsFalseWithoutWriting()
    {
        var queue = new JobQueue<Owner, int>(1);
        var owner = new Owner("a");
        owner.Close();

        (await queue.WriteAsync(owner, 1, new JobQueue<Owner, int>.Waiter(), CancellationToken.None).Within()).Should().BeFalse();
        queue.Waiting.Should().Be(0);
    }

    [Fact]
    public void Return_PutsTheJobsBackAtTheHeadInOrder()
    {
        var queue = new JobQueue<Owner, int>(10);
        var a = new Owner("a");
        var b = new Owner("b");
        Write(queue, a, 1, 2, 3);
        Write(queue, b, 4);
        var buffer = new int[8];
        queue.TryTake(buffer, sharers: 1, started: 0, out _).Should().Be(3);

        queue.Return(a, buffer.AsSpan(1, 2)).Should().BeTrue();

        queue.Waiting.Should().Be(4, "given-back jobs never stopped waiting");
        queue.TryTake(buffer, sharers: 1, started: 0, out Owner? owner).Should().Be(2);
        owner.Should().BeSameAs(a);
        buffer[..2].Should().Equal(2, 3);
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

        queue.RemoveAll(a).Should().Equal(1, 3);
        queue.RemoveAll(a).Should().BeNull("nothing of it is left");

        queue.Waiting.Should().Be(2);
        var buffer = new int[8];
        queue.TryTake(buffer, sharers: 1, started: 0, out Owner? owner).Should().Be(2, "b's jobs are now consecutive");
        owner.Should().BeSameAs(b);
        buffer[..2].Should().Equal(2, 4);
    }

    [Fact]
    public void Ring_GrowsPastItsFirstSize_KeepingOrderAcrossTheWrap()
    {
        var queue = new JobQueue<Owner, int>(1000);
        var owner = new Owner("a");
        var buffer = new int[64];
        Write(queue, owner, Enumerable.Range(0, 10).ToArray());
        queue.TryTake(buffer.AsSpan(0, 6), sharers: 1, started: 0, out _).Should().Be(6);
        queue.Release(6);

        Write(queue, owner, Enumerable.Range(10, 40).ToArray());

        var all = new List<int>();
        int taken;
        while ((taken = queue.TryTake(buffer, sharers: 1, started: 0, out _)) > 0)
        {
            all.AddRange(buffer[..taken]);
            queue.Release(taken);
        }

        all.Should().Equal(Enumerable.Range(6, 44));
        queue.Waiting.Should().Be(0);
    }

    [Fact]
    public async Task WriteAsync_QueueFull_WaitsUntilHalfOfItHasDrained()
    {
        var queue = new JobQueue<Owner, int>(4);
        var owner = new Owner("a");
        Write(queue, owner, 1, 2, 3, 4);
        var buffer = new int[4];
        queue.TryTake(buffer, sharers: 1, started: 0, out _).Should().Be(4);

        ValueTask<bool> write = queue.WriteAsync(owner, 5, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        write.IsCompleted.Should().BeFalse("the queue is full");

        queue.Release(1);
        write.IsCompleted.Should().BeFalse("3 of 4 still wait: one free place does not wake the producer");

        queue.Release(1);
        (await write.Within()).Should().BeTrue("2 of 4 wait: half the queue has drained");
        queue.Waiting.Should().Be(3);
    }

    [Fact]
    public async Task TryTake_ReportsTheLastBatchStarted_FreesItsRoomAndWakesAWaitingProducer()
    {
        var queue = new JobQueue<Owner, int>(2);
        var owner = new Owner("a");
        Write(queue, owner, 1, 2);
        var buffer = new int[2];
        queue.TryTake(buffer, sharers: 1, started: 0, out _).Should().Be(2);
        ValueTask<bool> write = queue.WriteAsync(owner, 3, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        write.IsCompleted.Should().BeFalse("both taken jobs still count as waiting");

        queue.TryTake(buffer, sharers: 1, started: 2, out _).Should().Be(0);

        (await write.Within()).Should().BeTrue();
        queue.Waiting.Should().Be(1);
    }

    [Fact]
    public async Task WriteAsync_OneWaiterForSeveralWaits_EachWaitEndsWhenItsRoomComes()
    {
        var queue = new JobQueue<Owner, int>(1);
        var owner = new Owner("a");
        var waiter = new JobQueue<Owner, int>.Waiter();
        var buffer = new int[1];
        Write(queue, owner, 0);

        for (int job = 1; job <= 3; job++)
        {
            ValueTask<bool> write = queue.WriteAsync(owner, job, waiter, CancellationToken.None);
            write.IsCompleted.Should().BeFalse("the queue is full");
            queue.TryTake(buffer, sharers: 1, started: 0, out _).Should().Be(1);
            queue.Release(1);
            (await write.Within()).Should().BeTrue();
            buffer[0].Should().Be(job - 1);
        }
    }

    [Fact]
    public async Task WriteAsync_QueueFullThenCancelled_ReturnsFalseWithoutThrowingOrWriting()
    {
        var queue = new JobQueue<Owner, int>(1);
        var owner = new Owner("a");
        Write(queue, owner, 1);
        using var cts = new CancellationTokenSource();

        ValueTask<bool> write = queue.WriteAsync(owner, 2, new JobQueue<Owner, int>.Waiter(), cts.Token);
        write.IsCompleted.Should().BeFalse();
        await cts.CancelAsync();

        (await write.Within()).Should().BeFalse();
        queue.Waiting.Should().Be(1);
    }

    [Fact]
    public async Task WriteAsync_ProducersAheadOfItCancelled_TheRoomGoesToTheNextProducer()
    {
        var queue = new JobQueue<Owner, int>(2);
        var owner = new Owner("a");
        Write(queue, owner, 1, 2);
        queue.TryTake(new int[2], sharers: 1, started: 0, out _).Should().Be(2);
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

        queue.Release(2);

        (await live.Within()).Should().BeTrue("cancelled producers' waits must not swallow the wake-up");
        queue.Waiting.Should().Be(1);
    }

    [Fact]
    public async Task RemoveAll_FreesRoom_WakesAWaitingProducer()
    {
        var queue = new JobQueue<Owner, int>(2);
        var gone = new Owner("gone");
        var other = new Owner("other");
        Write(queue, gone, 1, 2);
        ValueTask<bool> write = queue.WriteAsync(other, 3, new JobQueue<Owner, int>.Waiter(), CancellationToken.None);
        write.IsCompleted.Should().BeFalse();

        gone.Close();
        queue.RemoveAll(gone).Should().Equal(1, 2);

        (await write.Within()).Should().BeTrue();
    }

    private static void Write(JobQueue<Owner, int> queue, Owner owner, params int[] jobs)
    {
        foreach (int job in jobs)
        {
            queue.TryWrite(owner, job).Should().BeTrue();
        }
    }

    /// <summary>A run, as the queue sees it: counts entries and exits, and can be closed.</summary>
    private sealed class Owner(string name) : IJobQueueOwner
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
