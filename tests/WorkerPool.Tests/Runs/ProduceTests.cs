using System.Collections.Concurrent;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Runs;

/// <summary>The producer: what it pulls from a source, and when.</summary>
public sealed class ProduceTests : PoolTest
{
    [Fact]
    public async Task RunAsync_SourceFedByItsOwnJobs_EachJobIsQueuedBeforeTheNextIsPulled()
    {
        // A work list whose next job is added by the job before it: its MoveNext blocks until that job has run.
        using var work = new BlockingCollection<int>();
        using var unblock = new CancellationTokenSource();
        await using var pool = new BoundedWorkerPool<int, int>(
            (job, _) =>
            {
                if (job < 3)
                {
                    work.Add(job + 1, CancellationToken.None);
                }
                else
                {
                    work.CompleteAdding();
                }

                return ValueTask.FromResult(job);
            },
            new WorkerPoolOptions { MaxWorkers = 2, QueueCapacity = 64 });
        work.Add(0);

        try
        {
            IReadOnlyList<JobResult<int, int>> results = await pool.RunAsync(work.GetConsumingEnumerable(unblock.Token)).Within();

            results.Select(r => r.Value).Should().Equal(0, 1, 2, 3);
        }
        finally
        {
            // Should the run hang, free its producer so that the pool can be disposed and the test fails instead.
            await unblock.CancelAsync();
        }
    }

    [Fact]
    public async Task RunAsync_InMemoryCollection_PullsNoMoreThanTheQueueHasRoomFor()
    {
        var probe = new WorkProbe<int>();
        int pulled = 0;
        int[] jobs = [.. Enumerable.Range(0, 100)];
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 8 });

        // A counted collection that reports what it yields: batched, yet never ahead of the room it saw.
        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(new CountingList(jobs, () => Interlocked.Increment(ref pulled)));
        await probe.Started(0).Within();
        await TestExtensions.UntilAsync(() => pool.WaitingForRoom == 1).Within();

        // Pulled only into room the producer saw: the one job running, at most the queue's capacity, and the jobs the
        // producer waits in line with, at most half the queue (12 if the first batch filled the queue before the worker
        // took job 0, else 13).
        Volatile.Read(ref pulled).Should().BeInRange(12, 1 + 8 + 4);
        pool.GetStatistics().QueuedJobs.Should().BeInRange(4, 8, "the line is admitted once the queue falls to half its capacity");
        probe.ReleaseAll();
        (await run.Within()).Should().HaveCount(100);
    }

    [Fact]
    public async Task RunAsync_InMemoryCollection_WritesUpToThirtyTwoPulledJobsAtOnce()
    {
        var probe = new WorkProbe<int>();
        await using var pool = new BoundedWorkerPool<int, int>(probe.Gated(job => job), new WorkerPoolOptions { MaxWorkers = 1, QueueCapacity = 64 });
        // The only worker holds job -1 of another run, so each job the producer writes stays in the queue.
        Task<IReadOnlyList<JobResult<int, int>>> busy = pool.RunAsync([-1]);
        await probe.Started(-1).Within();
        var queuedAtEachPull = new ConcurrentQueue<int>();

        Task<IReadOnlyList<JobResult<int, int>>> run = pool.RunAsync(
            new CountingList([.. Enumerable.Range(0, 40)], () => queuedAtEachPull.Enqueue(pool.GetStatistics().QueuedJobs)));
        await TestExtensions.UntilAsync(() => pool.GetStatistics().QueuedJobs == 40).Within();

        // The first 32 jobs are all pulled before any is written; the last 8 after those 32 were written together.
        queuedAtEachPull.Should().Equal([.. Enumerable.Repeat(0, 32), .. Enumerable.Repeat(32, 8)]);
        probe.ReleaseAll();
        (await busy.Within()).Should().ContainSingle();
        (await run.Within()).Select(r => r.Value).Should().Equal(Enumerable.Range(0, 40));
    }

    [Fact]
    public async Task RunAsync_InMemoryCollectionThrowsAfterThreeJobs_ThrowsItsExceptionAndCountsTheThreeAsCanceled()
    {
        var error = new FormatException("the collection broke");
        int pulls = 0;
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 1 });

        // Jobs 0 to 2 are pulled into one batch, and the fourth pull throws before the batch is written.
        Func<Task> run = () => pool.RunAsync(new CountingList([.. Enumerable.Range(0, 10)], () =>
        {
            if (Interlocked.Increment(ref pulls) == 4)
            {
                throw error;
            }
        })).Within();

        (await run.Should().ThrowAsync<FormatException>()).Which.Should().BeSameAs(error);
        pool.GetStatistics().Should().BeEquivalentTo(new { Succeeded = 0, Canceled = 3 });
    }

    [Fact]
    public async Task RunAsync_SourceThrowsFromGetEnumerator_ThrowsItsException()
    {
        var error = new FormatException("no enumerator");
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 1 });

        Func<Task> run = () => pool.RunAsync(new UnenumerableSource(error)).Within();

        (await run.Should().ThrowAsync<FormatException>()).Which.Should().BeSameAs(error);
        pool.GetStatistics().Should().BeEquivalentTo(new { Succeeded = 0, Canceled = 0 });
    }

    [Fact]
    public async Task RunAsync_SourceEndsButItsEnumeratorThrowsOnDispose_ThrowsThatExceptionWithAnOutcomeForEveryJob()
    {
        var error = new FormatException("dispose broke");
        await using var pool = new BoundedWorkerPool<int, int>((job, _) => ValueTask.FromResult(job), new WorkerPoolOptions { MaxWorkers = 1 });

        Func<Task> run = () => pool.RunAsync(new ThrowingOnDisposeSource(2, error)).Within();

        (await run.Should().ThrowAsync<FormatException>()).Which.Should().BeSameAs(error);
        // The failure stops the run: each job either ran before that or never started.
        WorkerPoolStatistics statistics = pool.GetStatistics();
        (statistics.Succeeded + statistics.Canceled).Should().Be(2);
    }

    /// <summary>A source of 0..count-1 whose enumerator throws when it is disposed.</summary>
    private sealed class ThrowingOnDisposeSource(int count, Exception error) : IEnumerable<int>
    {
        public IEnumerator<int> GetEnumerator() => new Enumerator(count, error);

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        private sealed class Enumerator(int count, Exception error) : IEnumerator<int>
        {
            public int Current { get; private set; } = -1;

            object System.Collections.IEnumerator.Current => Current;

            public bool MoveNext() => ++Current < count;

            public void Reset() => throw new NotSupportedException();

            public void Dispose() => throw error;
        }
    }

    /// <summary>A source that cannot even be enumerated: GetEnumerator throws.</summary>
    private sealed class UnenumerableSource(Exception error) : IEnumerable<int>
    {
        public IEnumerator<int> GetEnumerator() => throw error;

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>A list that knows its count (so the producer may pull it in batches) and reports each element it yields.</summary>
    private sealed class CountingList(int[] items, Action onYield) : ICollection<int>
    {
        public int Count => items.Length;

        public bool IsReadOnly => true;

        public void Add(int item) => throw new NotSupportedException();

        public void Clear() => throw new NotSupportedException();

        public bool Contains(int item) => items.Contains(item);

        public void CopyTo(int[] array, int arrayIndex) => items.CopyTo(array, arrayIndex);

        public bool Remove(int item) => throw new NotSupportedException();

        public IEnumerator<int> GetEnumerator()
        {
            foreach (int item in items)
            {
                onYield();
                yield return item;
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
