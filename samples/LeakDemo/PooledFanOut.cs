using Microsoft.AspNetCore.Http;
using WorkerPool;

namespace LeakDemo;

/// <summary>
/// <c>/pooled</c>: the fix. The same fan-out, run through one <see cref="BoundedWorkerPool{TJob, TResult}"/> shared
/// by every request, with the request's own abort token.
/// </summary>
/// <remarks>
/// The pool bounds the sub-jobs executing at once across all requests to <see cref="LeakDemoOptions.MaxWorkers"/>,
/// stops a request's other sub-jobs on its first error (<see cref="ErrorMode.StopOnFirstError"/>), and stops them
/// too when the client goes away (<see cref="HttpContext.RequestAborted"/>). When <c>RunAsync</c> returns, none of the
/// request's sub-jobs is still executing, whichever way it returns.
/// </remarks>
public sealed class PooledFanOut : IAsyncDisposable
{
    private readonly LeakDemoOptions _options;
    private readonly BoundedWorkerPool<SubJob, int> _pool;
    private int _abortedRequests;

    /// <summary>Creates the endpoint and its pool.</summary>
    /// <param name="options">The demo's settings.</param>
    public PooledFanOut(LeakDemoOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _pool = new BoundedWorkerPool<SubJob, int>(
            RunSubJobAsync,
            new WorkerPoolOptions
            {
                Name = "fan-out",
                MaxWorkers = options.MaxWorkers,
                QueueCapacity = 1024,
                ErrorMode = ErrorMode.StopOnFirstError,
            });
    }

    /// <summary>Gets the sub-job bodies executing now.</summary>
    public LiveTaskCounter LiveSubJobs { get; } = new();

    /// <summary>Gets the requests whose handler is executing.</summary>
    public LiveTaskCounter InFlightRequests { get; } = new();

    /// <summary>Gets the number of requests whose run the pool stopped because the client went away.</summary>
    public int AbortedRequests => Volatile.Read(ref _abortedRequests);

    /// <summary>Gets the pool's <see cref="WorkerPoolOptions.MaxWorkers"/>.</summary>
    public int MaxWorkers => _options.MaxWorkers;

    /// <summary>Takes a snapshot of the pool's statistics.</summary>
    /// <returns>The pool's counters now.</returns>
    public WorkerPoolStatistics GetStatistics() => _pool.GetStatistics();

    /// <summary>Handles one request: runs the sub-jobs of <paramref name="seed"/>'s plan through the pool.</summary>
    /// <param name="seed">The request's plan seed.</param>
    /// <param name="requestAborted">The request's abort token: cancelled when the client goes away.</param>
    /// <returns>502 with the first failing sub-job's error, or 200 if every sub-job succeeded.</returns>
    public async Task<IResult> HandleAsync(int seed, CancellationToken requestAborted)
    {
        InFlightRequests.Increment();
        try
        {
            SubJob[] jobs = SubJob.Plan(seed, _options);
            IReadOnlyList<JobResult<SubJob, int>> results = await _pool.RunAsync(jobs, requestAborted);
            return Results.Text($"{results.Count} sub-jobs succeeded");
        }
        catch (SubJobFailedException failure)
        {
            // StopOnFirstError: thrown once the request's other sub-jobs have all stopped.
            return Results.Text(failure.Message, statusCode: StatusCodes.Status502BadGateway);
        }
        catch (OperationCanceledException) when (requestAborted.IsCancellationRequested)
        {
            // The client went away; the pool has already stopped every sub-job of this request.
            Interlocked.Increment(ref _abortedRequests);
            return Results.Empty;
        }
        finally
        {
            InFlightRequests.Decrement();
        }
    }

    /// <summary>Disposes the pool: cancels any run still going and waits for its workers.</summary>
    /// <returns>A task that completes once the pool holds no task.</returns>
    public ValueTask DisposeAsync() => _pool.DisposeAsync();

    private async ValueTask<int> RunSubJobAsync(SubJob job, CancellationToken cancellationToken)
    {
        LiveSubJobs.Increment();
        try
        {
            await Task.Delay(job.Duration, cancellationToken);
            if (job.Fails)
            {
                throw new SubJobFailedException($"sub-job {job.Index} failed");
            }

            return job.Index;
        }
        finally
        {
            LiveSubJobs.Decrement();
        }
    }
}
