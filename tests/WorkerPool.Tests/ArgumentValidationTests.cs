using WorkerPool.Tests.Support;

namespace WorkerPool.Tests;

/// <summary>Behaviour 8: bad input gets a clear error at the call site, at once.</summary>
public sealed class ArgumentValidationTests : PoolTest
{
    private static readonly Func<int, CancellationToken, ValueTask<int>> Identity = (job, _) => ValueTask.FromResult(job);

    [Fact]
    public void Constructor_NullWork_ThrowsArgumentNullException()
    {
        Action create = () => _ = new BoundedWorkerPool<int, int>(null!);

        create.Should().Throw<ArgumentNullException>().WithParameterName("work");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Constructor_MaxWorkersBelowOne_ThrowsNamingTheOption(int value)
    {
        Action create = () => _ = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { MaxWorkers = value });

        create.Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == "MaxWorkers" && e.Message.Contains("WorkerPoolOptions.MaxWorkers") && Equals(e.ActualValue, value));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void Constructor_QueueCapacityBelowOne_ThrowsNamingTheOption(int value)
    {
        Action create = () => _ = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { QueueCapacity = value });

        create.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == "QueueCapacity" && Equals(e.ActualValue, value));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(65)]
    public void Constructor_WorkerBatchSizeOutOfRange_ThrowsNamingTheOptionAndItsRange(int value)
    {
        Action create = () => _ = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { WorkerBatchSize = value });

        create.Should().Throw<ArgumentOutOfRangeException>()
            .Where(e => e.ParamName == "WorkerBatchSize" && Equals(e.ActualValue, value) && e.Message.Contains("from 1 to 64", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(64)]
    public async Task Constructor_WorkerBatchSizeAtItsLimits_IsAccepted(int value)
    {
        await using var pool = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { WorkerBatchSize = value });

        (await pool.RunAsync(Enumerable.Range(0, 500))).Select(r => r.Value).Should().Equal(Enumerable.Range(0, 500));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-2)]
    public void Constructor_JobTimeoutNotPositive_ThrowsNamingTheOption(int milliseconds)
    {
        Action create = () => _ = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { JobTimeout = TimeSpan.FromMilliseconds(milliseconds) });

        create.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("JobTimeout");
    }

    [Fact]
    public void Constructor_NegativeShutdownTimeout_ThrowsNamingTheOption()
    {
        Action create = () => _ = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { ShutdownTimeout = TimeSpan.FromSeconds(-1) });

        create.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("ShutdownTimeout");
    }

    [Fact]
    public void Constructor_TimeoutBeyondTimerRange_Throws()
    {
        Action create = () => _ = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { JobTimeout = TimeSpan.FromDays(100) });

        create.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("JobTimeout");
    }

    [Fact]
    public void Constructor_UndefinedErrorMode_Throws()
    {
        Action create = () => _ = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { ErrorMode = (ErrorMode)42 });

        create.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("ErrorMode");
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Constructor_BlankName_Throws(string name)
    {
        Action create = () => _ = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { Name = name });

        create.Should().Throw<ArgumentException>().WithParameterName("Name");
    }

    [Fact]
    public void Validate_NullTimeProvider_ThrowsNamingTheOption()
    {
        var options = new WorkerPoolOptions { TimeProvider = null! };

        options.Invoking(o => o.Validate()).Should().Throw<ArgumentNullException>()
            .Where(e => e.ParamName == "TimeProvider" && e.Message.Contains("WorkerPoolOptions.TimeProvider must not be null"));
    }

    [Fact]
    public void Options_TimeProviderByDefault_IsTheSystemClock()
    {
        new WorkerPoolOptions().TimeProvider.Should().BeSameAs(TimeProvider.System);
    }

    [Fact]
    public void Constructor_InfiniteTimeouts_AreAccepted()
    {
        Action create = () => _ = new BoundedWorkerPool<int, int>(Identity, new WorkerPoolOptions { JobTimeout = Timeout.InfiniteTimeSpan, ShutdownTimeout = Timeout.InfiniteTimeSpan });

        create.Should().NotThrow();
    }

    [Fact]
    public async Task Constructor_OptionsChangedAfterwards_PoolKeepsItsCopy()
    {
        var options = new WorkerPoolOptions { MaxWorkers = 1, Name = "copy" };
        await using var pool = new BoundedWorkerPool<int, int>(Identity, options);

        options.MaxWorkers = 0;
        options.Name = "changed";

        pool.Name.Should().Be("copy");
        (await pool.RunAsync(Enumerable.Range(0, 10))).Should().HaveCount(10);
        pool.GetStatistics().PeakWorkers.Should().Be(1);
    }

    [Fact]
    public async Task RunAndStream_NullJobs_ThrowArgumentNullExceptionSynchronously()
    {
        await using var pool = new BoundedWorkerPool<int, int>(Identity);

        ((Action)(() => pool.RunAsync((IEnumerable<int>)null!))).Should().Throw<ArgumentNullException>().WithParameterName("jobs");
        ((Action)(() => pool.RunAsync((IAsyncEnumerable<int>)null!))).Should().Throw<ArgumentNullException>().WithParameterName("jobs");
        ((Action)(() => pool.StreamAsync((IEnumerable<int>)null!))).Should().Throw<ArgumentNullException>().WithParameterName("jobs");
        ((Action)(() => pool.StreamAsync((IAsyncEnumerable<int>)null!))).Should().Throw<ArgumentNullException>().WithParameterName("jobs");
    }

    [Fact]
    public async Task RunAndStream_AfterDispose_ThrowObjectDisposedExceptionSynchronously()
    {
        var pool = new BoundedWorkerPool<int, int>(Identity);
        await pool.DisposeAsync();

        ((Action)(() => pool.RunAsync([1]))).Should().Throw<ObjectDisposedException>();
        ((Action)(() => pool.RunAsync(AsyncOne()))).Should().Throw<ObjectDisposedException>();
        ((Action)(() => pool.StreamAsync([1]))).Should().Throw<ObjectDisposedException>();
        ((Action)(() => pool.StreamAsync(AsyncOne()))).Should().Throw<ObjectDisposedException>();
        pool.GetStatistics().ActiveWorkers.Should().Be(0, "statistics stay readable after disposal");
    }

    [Fact]
    public async Task StreamAsync_PoolDisposedBeforeEnumerationStarts_FirstMoveThrowsObjectDisposedException()
    {
        var pool = new BoundedWorkerPool<int, int>(Identity);
        IAsyncEnumerable<JobResult<int, int>> stream = pool.StreamAsync([1, 2, 3]);
        await pool.DisposeAsync();

        Func<Task> enumerate = async () =>
        {
            await foreach (JobResult<int, int> _ in stream)
            {
            }
        };

        await enumerate.Should().ThrowAsync<ObjectDisposedException>();
    }

    private static async IAsyncEnumerable<int> AsyncOne()
    {
        await Task.Yield();
        yield return 1;
    }

    [Fact]
    public async Task Create_TaskReturningMethodGroup_BuildsAPoolThatRunsIt()
    {
        await using BoundedWorkerPool<int, string> pool = BoundedWorkerPool.Create<int, string>(FormatAsync, new WorkerPoolOptions { MaxWorkers = 2 });

        (await pool.RunAsync([1, 2, 3]).Within()).Select(r => r.Value).Should().Equal("1", "2", "3");
        (await pool.SubmitAsync(4).Within()).Should().Be("4");
    }

    [Fact]
    public void Create_NullWork_ThrowsArgumentNullException()
    {
        Action create = () => BoundedWorkerPool.Create<int, string>(null!);

        create.Should().Throw<ArgumentNullException>().WithParameterName("work");
    }

    private static async Task<string> FormatAsync(int job, CancellationToken cancellationToken)
    {
        await Task.Yield();
        cancellationToken.ThrowIfCancellationRequested();
        return job.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
