using WorkerPool.Tests.Support;

namespace WorkerPool.Redis.Hosting.Tests.Support;

/// <summary>What the handlers of one host do, set by the test; by default a job returns its number.</summary>
internal sealed class TestJobs
{
    public Func<RedisStreamMessage<int>, ScopeProbe, CancellationToken, ValueTask<int>> Work { get; set; } =
        (message, _, _) => ValueTask.FromResult(message.Job);

    /// <summary>Completes when <paramref name="count"/> jobs have been handled, counting every delivery.</summary>
    public Task Handled(int count)
    {
        lock (_sync)
        {
            if (_handled >= count)
            {
                return Task.CompletedTask;
            }

            TaskCompletionSource gate = TestExtensions.NewGate();
            _waiters.Add((count, gate));
            return gate.Task;
        }
    }

    public void Record()
    {
        List<TaskCompletionSource> open = [];
        lock (_sync)
        {
            _handled++;
            _waiters.RemoveAll(waiter =>
            {
                bool reached = waiter.Count <= _handled;
                if (reached)
                {
                    open.Add(waiter.Gate);
                }

                return reached;
            });
        }

        open.ForEach(gate => gate.TrySetResult());
    }

    private readonly object _sync = new();
    private readonly List<(int Count, TaskCompletionSource Gate)> _waiters = [];
    private int _handled;
}

/// <summary>A scoped service: one per job, disposed with the job's scope.</summary>
internal sealed class ScopeProbe : IDisposable
{
    public Guid Id { get; } = Guid.NewGuid();

    public bool Disposed { get; private set; }

    public void Dispose() => Disposed = true;
}

/// <summary>The handler under test: does what <see cref="TestJobs.Work"/> says, with its scope's probe.</summary>
internal sealed class TestHandler(TestJobs jobs, ScopeProbe probe) : IJobHandler<RedisStreamMessage<int>, int>
{
    public async ValueTask<int> HandleAsync(RedisStreamMessage<int> job, CancellationToken cancellationToken)
    {
        try
        {
            return await jobs.Work(job, probe, cancellationToken);
        }
        finally
        {
            jobs.Record();
        }
    }
}
