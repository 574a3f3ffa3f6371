using Microsoft.Extensions.Time.Testing;

namespace WorkerPool.Tests.Support;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that also tells when the pool has set a timer. Its time moves only when a test
/// advances it, so a test of a timeout first waits until the pool has set the timer for it (<see cref="TimerSet"/>),
/// then advances time to just before it, and then past it.
/// </summary>
internal sealed class TestClock : FakeTimeProvider
{
    private readonly object _sync = new();
    private readonly Dictionary<TimeSpan, int> _set = [];
    private readonly List<(TimeSpan DueTime, int Count, TaskCompletionSource Gate)> _waiters = [];

    /// <summary>
    /// A task that completes once timers have been set to go off after <paramref name="dueTime"/>, counted from when each
    /// was set, <paramref name="count"/> times in all since the clock was made.
    /// </summary>
    public Task TimerSet(TimeSpan dueTime, int count = 1)
    {
        lock (_sync)
        {
            if (_set.GetValueOrDefault(dueTime) >= count)
            {
                return Task.CompletedTask;
            }

            var gate = TestExtensions.NewGate();
            _waiters.Add((dueTime, count, gate));
            return gate.Task;
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ReportingTimer(base.CreateTimer(callback, state, dueTime, period), this);
        Report(dueTime);
        return timer;
    }

    private void Report(TimeSpan dueTime)
    {
        if (dueTime == Timeout.InfiniteTimeSpan)
        {
            return;
        }

        List<TaskCompletionSource> open = [];
        lock (_sync)
        {
            int count = _set[dueTime] = _set.GetValueOrDefault(dueTime) + 1;
            _waiters.RemoveAll(waiter =>
            {
                bool reached = waiter.DueTime == dueTime && waiter.Count <= count;
                if (reached)
                {
                    open.Add(waiter.Gate);
                }

                return reached;
            });
        }

        open.ForEach(gate => gate.TrySetResult());
    }

    /// <summary>The fake timer, reporting each time it is set again.</summary>
    private sealed class ReportingTimer(ITimer timer, TestClock clock) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            bool changed = timer.Change(dueTime, period);
            clock.Report(dueTime);
            return changed;
        }

        public void Dispose() => timer.Dispose();

        public ValueTask DisposeAsync() => timer.DisposeAsync();
    }
}
