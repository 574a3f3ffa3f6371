using System.Runtime.CompilerServices;

namespace WorkerPool.Tests.Support;

/// <summary>Job sources that record how the pool consumes them.</summary>
internal static class Sources
{
    /// <summary>A lazy sequence 0..count-1 (or endless) that counts pulls and can run a callback at each pull.</summary>
    public static CountingSource Counting(long count = long.MaxValue, Action<long>? onPull = null) => new(count, onPull);

    /// <summary>Wraps any synchronous source and counts the jobs it hands out, that is the MoveNext calls that returned true.</summary>
    public static CountedSource<T> Counted<T>(IEnumerable<T> source) => new(source);

    /// <summary>Wraps any asynchronous source and counts the jobs it hands out, that is the MoveNextAsync calls that returned true.</summary>
    public static CountedAsyncSource<T> CountedAsync<T>(IAsyncEnumerable<T> source) => new(source);

    /// <summary>A synchronous source that yields <paramref name="before"/> jobs, then throws <paramref name="error"/>.</summary>
    public static IEnumerable<int> ThrowingAfter(int before, Exception error)
    {
        for (int i = 0; i < before; i++)
        {
            yield return i;
        }

        throw error;
    }

    /// <summary>An asynchronous source that yields <paramref name="before"/> jobs, then throws <paramref name="error"/>.</summary>
    public static async IAsyncEnumerable<int> ThrowingAfterAsync(int before, Exception error)
    {
        for (int i = 0; i < before; i++)
        {
            await Task.Yield();
            yield return i;
        }

        throw error;
    }

    /// <summary>A synchronous source of 0..count-1 whose <c>Current</c> throws <paramref name="error"/> for job <paramref name="at"/>.</summary>
    public static IEnumerable<int> CurrentThrowingAt(int count, int at, Exception error) => new CurrentThrowing(count, at, error);

    /// <summary>The asynchronous form of <see cref="CurrentThrowingAt"/>.</summary>
    public static IAsyncEnumerable<int> CurrentThrowingAtAsync(int count, int at, Exception error) => new CurrentThrowing(count, at, error);

    /// <summary>
    /// An asynchronous source that yields job 0, completes <paramref name="waiting"/>, then waits for its token and
    /// never yields again.
    /// </summary>
    public static async IAsyncEnumerable<int> StallingAfterFirstAsync(TaskCompletionSource waiting, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        yield return 0;
        waiting.TrySetResult();
        await Task.Delay(Timeout.Infinite, cancellationToken);
        yield return 1;
    }

    /// <summary>An asynchronous source of 0..count-1 that observes the token it is given.</summary>
    public static async IAsyncEnumerable<int> RangeAsync(int count, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (int i = 0; i < count; i++)
        {
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            yield return i;
        }
    }

    private sealed class CurrentThrowing(int count, int at, Exception error) : IEnumerable<int>, IAsyncEnumerable<int>
    {
        public IEnumerator<int> GetEnumerator() => new Enumerator(count, at, error);

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public IAsyncEnumerator<int> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(count, at, error);

        private sealed class Enumerator(int count, int at, Exception error) : IEnumerator<int>, IAsyncEnumerator<int>
        {
            private int _position = -1;

            public int Current => _position == at ? throw error : _position;

            object System.Collections.IEnumerator.Current => Current;

            public bool MoveNext() => ++_position < count;

            public ValueTask<bool> MoveNextAsync() => ValueTask.FromResult(MoveNext());

            public void Reset() => throw new NotSupportedException();

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    internal sealed class CountingSource(long count, Action<long>? onPull) : IEnumerable<int>
    {
        private long _pulled;
        private int _enumerations;
        private int _disposals;

        public long Pulled => Interlocked.Read(ref _pulled);

        public int Enumerations => Volatile.Read(ref _enumerations);

        public int Disposals => Volatile.Read(ref _disposals);

        public IEnumerator<int> GetEnumerator()
        {
            Interlocked.Increment(ref _enumerations);
            return Enumerate();
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        private IEnumerator<int> Enumerate()
        {
            try
            {
                for (long i = 0; i < count; i++)
                {
                    long pulled = Interlocked.Increment(ref _pulled);
                    onPull?.Invoke(pulled);
                    yield return (int)i;
                }
            }
            finally
            {
                Interlocked.Increment(ref _disposals);
            }
        }
    }
}

/// <summary>A synchronous source that counts the jobs it hands out.</summary>
internal sealed class CountedSource<T>(IEnumerable<T> inner) : IEnumerable<T>
{
    private long _pulled;

    /// <summary>Gets the number of jobs handed out so far.</summary>
    public long Pulled => Interlocked.Read(ref _pulled);

    public IEnumerator<T> GetEnumerator() => Enumerate();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    private IEnumerator<T> Enumerate()
    {
        foreach (T item in inner)
        {
            Interlocked.Increment(ref _pulled);
            yield return item;
        }
    }
}

/// <summary>
/// An asynchronous source that counts the jobs the consumer took: a job counts when <c>Current</c> is read after a
/// <c>MoveNextAsync</c> that returned true. It passes the token through unchanged.
/// </summary>
/// <remarks>
/// Counting the yields instead would be wrong for the pool: once a run is cancelled, the pool stops waiting on a pending
/// <c>MoveNextAsync</c> (a source may never answer), so a job the source yields into that abandoned call was never
/// taken, and has no outcome.
/// </remarks>
internal sealed class CountedAsyncSource<T>(IAsyncEnumerable<T> inner) : IAsyncEnumerable<T>
{
    private long _pulled;

    /// <summary>Gets the number of jobs taken so far.</summary>
    public long Pulled => Interlocked.Read(ref _pulled);

    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        new Enumerator(this, inner.GetAsyncEnumerator(cancellationToken));

    private sealed class Enumerator(CountedAsyncSource<T> owner, IAsyncEnumerator<T> inner) : IAsyncEnumerator<T>
    {
        private int _uncounted;

        public T Current
        {
            get
            {
                if (Interlocked.Exchange(ref _uncounted, 0) == 1)
                {
                    Interlocked.Increment(ref owner._pulled);
                }

                return inner.Current;
            }
        }

        public async ValueTask<bool> MoveNextAsync()
        {
            bool more = await inner.MoveNextAsync();
            Volatile.Write(ref _uncounted, more ? 1 : 0);
            return more;
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}

/// <summary>
/// An asynchronous source that yields <c>count</c> jobs and then never yields again, ignoring its token:
/// the pool must not wait for it once the run is cancelled.
/// </summary>
internal sealed class StuckAsyncSource(int count) : IAsyncEnumerable<int>
{
    private readonly TaskCompletionSource<bool> _never = TestExtensions.NewGate<bool>();
    private readonly TaskCompletionSource _stuck = TestExtensions.NewGate();
    private readonly TaskCompletionSource _disposedGate = TestExtensions.NewGate();
    private int _disposed;

    /// <summary>Completes when the source has started its endless wait.</summary>
    public Task Stuck => _stuck.Task;

    public bool Disposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Completes when the enumerator has been disposed.</summary>
    public Task WhenDisposed => _disposedGate.Task;

    /// <summary>Lets the endless wait end (as end of sequence), so the abandoned enumerator can be disposed.</summary>
    public void Unstick() => _never.TrySetResult(false);

    /// <summary>Ends the endless wait with <paramref name="error"/>: the pending MoveNextAsync faults, and nobody but the pool sees it.</summary>
    public void UnstickWithError(Exception error) => _never.TrySetException(error);

    public IAsyncEnumerator<int> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(this, count);

    private sealed class Enumerator(StuckAsyncSource owner, int count) : IAsyncEnumerator<int>
    {
        private int _next = -1;

        public int Current => _next;

        public ValueTask<bool> MoveNextAsync()
        {
            if (_next + 1 < count)
            {
                _next++;
                return ValueTask.FromResult(true);
            }

            owner._stuck.TrySetResult();
            return new ValueTask<bool>(owner._never.Task);
        }

        public ValueTask DisposeAsync()
        {
            Interlocked.Exchange(ref owner._disposed, 1);
            owner._disposedGate.TrySetResult();
            return ValueTask.CompletedTask;
        }
    }
}
