namespace WorkerPool.Benchmarks;

/// <summary>
/// Work that parks on its token until it is cancelled, and counts who entered and who left. It tells when every
/// work call has started, when every one has exited, and how many were still inside at a given moment.
/// </summary>
internal sealed class ParkingLot
{
    private readonly int _expected;
    private readonly TaskCompletionSource _allEntered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _allExited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _entered;
    private int _exited;

    public ParkingLot(int expected) => _expected = expected;

    public Task AllEntered => _allEntered.Task;

    public Task AllExited => _allExited.Task;

    /// <summary>Work calls that have entered and not yet left.</summary>
    public int StillRunning => Volatile.Read(ref _entered) - Volatile.Read(ref _exited);

    public async Task<int> ParkAsync(int job, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _entered) == _expected)
        {
            _allEntered.TrySetResult();
        }

        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return job;
        }
        finally
        {
            if (Interlocked.Increment(ref _exited) == _expected)
            {
                _allExited.TrySetResult();
            }
        }
    }
}
