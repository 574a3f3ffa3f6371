using System.Collections.Concurrent;

namespace WorkerPool.Tests.Support;

/// <summary>
/// Wraps a test's work function and counts what the pool does with it: calls executing now, the most executing at
/// once, calls started, and a gate per job so a test can hold a job inside its work call until it says so.
/// </summary>
/// <remarks>
/// The executing count drops in a finally block inside the work call, before the work's task completes, so when a run
/// completes the count must already be 0. That is the leak check every test applies.
/// </remarks>
internal sealed class WorkProbe<TJob>
    where TJob : notnull
{
    private readonly ConcurrentDictionary<TJob, TaskCompletionSource> _started = new();
    private readonly ConcurrentDictionary<TJob, TaskCompletionSource> _release = new();
    private readonly ConcurrentBag<TJob> _startedJobs = [];
    private int _executing;
    private int _peak;
    private int _calls;

    /// <summary>Gets the number of work calls executing right now.</summary>
    public int Executing => Volatile.Read(ref _executing);

    /// <summary>Gets the most work calls that executed at once.</summary>
    public int Peak => Volatile.Read(ref _peak);

    /// <summary>Gets the number of work calls that started.</summary>
    public int Calls => Volatile.Read(ref _calls);

    public IReadOnlyCollection<TJob> StartedJobs => _startedJobs.ToArray();

    /// <summary>A task that completes when the job's work call has started.</summary>
    public Task Started(TJob job) => _started.GetOrAdd(job, static _ => NewGate()).Task;

    /// <summary>Lets the job's gated work call go on.</summary>
    public void Release(TJob job) => _release.GetOrAdd(job, static _ => NewGate()).TrySetResult();

    /// <summary>Lets every gated work call, present and future, go on.</summary>
    public void ReleaseAll()
    {
        _releaseAll.TrySetResult();
    }

    private readonly TaskCompletionSource _releaseAll = NewGate();

    /// <summary>Wraps a body so that every call is counted.</summary>
    public Func<TJob, CancellationToken, ValueTask<TResult>> Wrap<TResult>(Func<TJob, CancellationToken, ValueTask<TResult>> body)
    {
        return async (job, cancellationToken) =>
        {
            int now = Interlocked.Increment(ref _executing);
            UpdatePeak(now);
            Interlocked.Increment(ref _calls);
            _startedJobs.Add(job);
            try
            {
                _started.GetOrAdd(job, static _ => NewGate()).TrySetResult();
                return await body(job, cancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref _executing);
            }
        };
    }

    /// <summary>
    /// A body that holds each job until <see cref="Release"/> or <see cref="ReleaseAll"/> is called, or its token is
    /// cancelled, and then returns <paramref name="result"/> for it.
    /// </summary>
    public Func<TJob, CancellationToken, ValueTask<TResult>> Gated<TResult>(Func<TJob, TResult> result) =>
        Wrap<TResult>(async (job, cancellationToken) =>
        {
            Task gate = _release.GetOrAdd(job, static _ => NewGate()).Task;
            await Task.WhenAny(gate, _releaseAll.Task).WaitAsync(cancellationToken);
            return result(job);
        });

    /// <summary>Like <see cref="Gated{TResult}"/>, but the job ignores its token.</summary>
    public Func<TJob, CancellationToken, ValueTask<TResult>> GatedIgnoringCancellation<TResult>(Func<TJob, TResult> result) =>
        Wrap<TResult>(async (job, _) =>
        {
            Task gate = _release.GetOrAdd(job, static _ => NewGate()).Task;
            await Task.WhenAny(gate, _releaseAll.Task);
            return result(job);
        });

    /// <summary>
    /// A body that waits for its token and, once cancelled, holds its work call open until <paramref name="cleanup"/>
    /// completes: work that takes a while to unwind, which the pool must wait for.
    /// </summary>
    public Func<TJob, CancellationToken, ValueTask<int>> SlowToUnwind(Task cleanup, Func<TJob, int> result) =>
        Wrap<int>(async (job, token) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, token);
                return result(job);
            }
            catch (OperationCanceledException)
            {
                await cleanup;
                throw;
            }
        });

    private void UpdatePeak(int now)
    {
        int peak;
        while (now > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
        {
        }
    }

    private static TaskCompletionSource NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
