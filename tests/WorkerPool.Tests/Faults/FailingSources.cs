namespace WorkerPool.Tests.Faults;

/// <summary>
/// Sources that hand out <c>before</c> jobs, then fail to move next with <c>moveNextError</c>, and then fail again when
/// they are disposed, with <c>disposeError</c>: the first is the root cause, the second only a cleanup error.
/// </summary>
internal sealed class FailingSource(int before, Exception moveNextError, Exception disposeError) : IEnumerable<int>
{
    public IEnumerator<int> GetEnumerator() => new Enumerator(before, moveNextError, disposeError);

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    private sealed class Enumerator(int before, Exception moveNextError, Exception disposeError) : IEnumerator<int>
    {
        public int Current { get; private set; } = -1;

        object System.Collections.IEnumerator.Current => Current;

        public bool MoveNext()
        {
            if (Current + 1 < before)
            {
                Current++;
                return true;
            }

            throw moveNextError;
        }

        public void Reset() => throw new NotSupportedException();

        public void Dispose() => throw disposeError;
    }
}

/// <summary>The asynchronous form of <see cref="FailingSource"/>.</summary>
internal sealed class FailingAsyncSource(int before, Exception moveNextError, Exception disposeError) : IAsyncEnumerable<int>
{
    public IAsyncEnumerator<int> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(before, moveNextError, disposeError);

    private sealed class Enumerator(int before, Exception moveNextError, Exception disposeError) : IAsyncEnumerator<int>
    {
        public int Current { get; private set; } = -1;

        public async ValueTask<bool> MoveNextAsync()
        {
            await Task.Yield();
            if (Current + 1 < before)
            {
                Current++;
                return true;
            }

            throw moveNextError;
        }

        public async ValueTask DisposeAsync()
        {
            await Task.Yield();
            throw disposeError;
        }
    }
}
