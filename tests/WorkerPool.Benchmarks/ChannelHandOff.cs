using System.Threading.Channels;
using System.Threading.Tasks.Sources;

namespace WorkerPool.Benchmarks;

/// <summary>
/// The least a call that hands its job to a worker and waits for the value can do: write the job with a value task
/// source to a bounded channel, read by as many loops as the pool has workers, each of which calls the job and sets its
/// value; the caller's continuation runs on the thread pool, as SubmitAsync's does. No cancellation, no timeout, no
/// ExecutionContext per job, no accounting: a floor for SubmitAsync, not a peer a service could use.
/// </summary>
internal sealed class ChannelHandOff : IAsyncDisposable
{
    private readonly Channel<Call> _channel;
    private readonly Task[] _readers;

    public ChannelHandOff(int workers, int capacity, Func<int, CancellationToken, ValueTask<int>> work)
    {
        _channel = Channel.CreateBounded<Call>(new BoundedChannelOptions(capacity));
        _readers = new Task[workers];
        for (int i = 0; i < _readers.Length; i++)
        {
            _readers[i] = Task.Run(() => ReadAsync(_channel.Reader, work));
        }
    }

    /// <summary>Hands <paramref name="job"/> to a reader and returns its value.</summary>
    public async ValueTask<int> CallAsync(int job)
    {
        var call = new Call(job);
        if (!_channel.Writer.TryWrite(call))
        {
            await _channel.Writer.WriteAsync(call);
        }

        return await call.ValueTask;
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Writer.Complete();
        await Task.WhenAll(_readers);
    }

    private static async Task ReadAsync(ChannelReader<Call> reader, Func<int, CancellationToken, ValueTask<int>> work)
    {
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out Call? call))
            {
                try
                {
                    call.SetResult(await work(call.Job, CancellationToken.None));
                }
#pragma warning disable CA1031 // The caller gets the job's exception, whatever it is.
                catch (Exception exception)
#pragma warning restore CA1031
                {
                    call.SetException(exception);
                }
            }
        }
    }

    private sealed class Call(int job) : IValueTaskSource<int>
    {
        private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };

        public int Job { get; } = job;

        public ValueTask<int> ValueTask => new(this, _core.Version);

        public void SetResult(int value) => _core.SetResult(value);

        public void SetException(Exception exception) => _core.SetException(exception);

        public int GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
