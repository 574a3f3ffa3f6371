using System.Threading.Channels;
using System.Threading.Tasks.Dataflow;

namespace WorkerPool.Benchmarks;

/// <summary>
/// The alternatives to the pool for trivial synchronous jobs (<c>x =&gt; x * 2</c>), each written the way one would write
/// it by hand: jobs <c>first .. first + count - 1</c>, result of job <c>x</c> stored in <c>results[x]</c>.
/// </summary>
internal static class TrivialContenders
{
    public static int Work(int x) => x * 2;

    /// <summary>The pool's work delegate for the same job.</summary>
    public static ValueTask<int> PoolWork(int x, CancellationToken cancellationToken) => ValueTask.FromResult(Work(x));

    /// <summary>Parallel.ForEachAsync with a synchronous lambda, the shape to write when the work is synchronous.</summary>
    public static Task ParallelForEachAsync(int first, int count, int[] results, int workers) =>
        Parallel.ForEachAsync(
            Enumerable.Range(first, count),
            new ParallelOptions { MaxDegreeOfParallelism = workers },
            (x, _) =>
            {
                results[x] = Work(x);
                return ValueTask.CompletedTask;
            });

    /// <summary>Parallel.ForEachAsync with an async lambda that awaits the pool's own work delegate.</summary>
    public static Task ParallelForEachAwaitingAsync(
        int first, int count, int[] results, int workers, Func<int, CancellationToken, ValueTask<int>> work) =>
        Parallel.ForEachAsync(
            Enumerable.Range(first, count),
            new ParallelOptions { MaxDegreeOfParallelism = workers },
            async (x, cancellationToken) => results[x] = await work(x, cancellationToken));

    /// <summary>
    /// Parallel.ForAsync over the same indices with the same synchronous lambda: the same loop without a shared
    /// enumerator, so without the lock that Parallel.ForEachAsync takes around every element (see docs/benchmarks.md).
    /// </summary>
    public static Task ParallelForAsync(int first, int count, int[] results, int workers) =>
        Parallel.ForAsync(
            first,
            first + count,
            new ParallelOptions { MaxDegreeOfParallelism = workers },
            (x, _) =>
            {
                results[x] = Work(x);
                return ValueTask.CompletedTask;
            });

    /// <summary>A bounded TransformBlock; its outputs come in input order, and a consumer drains them as they come.</summary>
    public static async Task DataflowAsync(int first, int count, int[] results, int workers, int capacity)
    {
        var block = new TransformBlock<int, int>(
            Work,
            new ExecutionDataflowBlockOptions { MaxDegreeOfParallelism = workers, BoundedCapacity = capacity });
        Task consumer = DrainInOrderAsync(block, results, first);
        for (int x = first; x < first + count; x++)
        {
            if (!await block.SendAsync(x))
            {
                throw new InvalidOperationException("The block declined a job.");
            }
        }

        block.Complete();
        await consumer;
        await block.Completion;
    }

    /// <summary>
    /// A bounded channel, one producer, and <paramref name="workers"/> reader tasks, each awaiting
    /// <paramref name="work"/> (the pool's own work delegate) for every job it reads.
    /// </summary>
    public static async Task ChannelAsync(
        int first, int count, int[] results, int workers, int capacity, Func<int, CancellationToken, ValueTask<int>> work)
    {
        var channel = Channel.CreateBounded<int>(new BoundedChannelOptions(capacity) { SingleWriter = true });
        var readers = new Task[workers];
        for (int i = 0; i < readers.Length; i++)
        {
            readers[i] = Task.Run(() => ReadAsync(channel.Reader, results, work));
        }

        ChannelWriter<int> writer = channel.Writer;
        for (int x = first; x < first + count; x++)
        {
            if (!writer.TryWrite(x))
            {
                await writer.WriteAsync(x);
            }
        }

        writer.Complete();
        await Task.WhenAll(readers);
    }

    private static async Task DrainInOrderAsync(TransformBlock<int, int> block, int[] results, int first)
    {
        int next = first;
        while (await block.OutputAvailableAsync())
        {
            while (block.TryReceive(out int value))
            {
                results[next++] = value;
            }
        }
    }

    private static async Task ReadAsync(ChannelReader<int> reader, int[] results, Func<int, CancellationToken, ValueTask<int>> work)
    {
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out int x))
            {
                results[x] = await work(x, CancellationToken.None);
            }
        }
    }
}
