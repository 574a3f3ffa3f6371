using Microsoft.Coyote.Specifications;

namespace WorkerPool.SystematicTests.Support;

/// <summary>
/// One iteration's queue with its producers and workers: producers write jobs as the pool's producer does and signal the
/// workers for each job admitted, workers take them (<see cref="QueueWorker"/>), and a <see cref="JobLedger"/> writes
/// down what happened to every job. At the end, <see cref="AssertEveryJobAccountedFor"/> checks the queue's promises.
/// </summary>
internal sealed class QueueScene : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0);
    private readonly QueueWorker _worker;
    private readonly List<Task> _workers = [];

    public QueueScene(int capacity, int handSize = 0)
    {
        Queue = new JobQueue<ClaimingOwner, int>(capacity, handSize);
        _worker = new QueueWorker(Queue, _signal, Ledger);
    }

    public JobQueue<ClaimingOwner, int> Queue { get; }

    public JobLedger Ledger { get; } = new();

    /// <summary>Starts one more worker.</summary>
    public void StartWorker() => _workers.Add(Task.Run(_worker.RunAsync));

    /// <summary>
    /// Starts a worker that takes batches into a hand of its own, and gives the hand back after
    /// <paramref name="giveBackAfter"/> jobs and before every <paramref name="awaitEvery"/>th job awaits.
    /// </summary>
    public void StartHandWorker(int giveBackAfter, int awaitEvery = 0)
    {
        var worker = new HandWorker(Queue, Ledger, giveBackAfter, awaitEvery);
        _workers.Add(Task.Run(worker.RunAsync));
    }


    /// <summary>Writes a job into a queue known to have room, before the scene's tasks start.</summary>
    public void Prefill(ClaimingOwner owner, int job)
    {
        Specification.Assert(Queue.TryWrite(owner, job), $"The queue has room for job {job}.");
        Ledger.Admitted(job);
        _signal.Release();
    }

    /// <summary>A producer: writes its jobs in order, and stops at the first one refused, as the pool's producer does.</summary>
    public async Task ProduceAsync(ClaimingOwner owner, int[] jobs, CancellationToken cancellationToken)
    {
        var waiter = new JobQueue<ClaimingOwner, int>.Waiter();
        foreach (int job in jobs)
        {
            if (!await WriteAsync(owner, job, waiter, cancellationToken))
            {
                return;
            }
        }
    }

    /// <summary>Writes one job through the admission line, writes down what happened to it, and signals a worker if it was admitted.</summary>
    public async Task<bool> WriteAsync(ClaimingOwner owner, int job, JobQueue<ClaimingOwner, int>.Waiter waiter, CancellationToken cancellationToken) =>
        Record(owner, [job], await Queue.WriteAsync(owner, job, waiter, cancellationToken), cancellationToken);

    /// <summary>Writes several jobs together through the admission line, as the pool's producer does while the queue is full.</summary>
    public async Task<bool> WriteAllAsync(ClaimingOwner owner, int[] jobs, JobQueue<ClaimingOwner, int>.Waiter waiter, CancellationToken cancellationToken) =>
        Record(owner, jobs, await Queue.WriteAllAsync(owner, jobs, 0, jobs.Length, waiter, cancellationToken), cancellationToken);

    /// <summary>Writes down what happened to the jobs of one write, and signals a worker for each one admitted.</summary>
    private bool Record(ClaimingOwner owner, int[] jobs, bool admitted, CancellationToken cancellationToken)
    {
        foreach (int job in jobs)
        {
            if (admitted)
            {
                Ledger.Admitted(job);
                _signal.Release();
            }
            else
            {
                Ledger.Refused(job);
            }
        }

        Specification.Assert(
            admitted || owner.IsClosed || cancellationToken.IsCancellationRequested,
            $"Jobs [{string.Join(", ", jobs)}] were refused although their owner {owner} is open and their token was not cancelled.");
        return admitted;
    }

    /// <summary>Lets the workers take what is left, then stops them and waits for them.</summary>
    public async Task StopWorkersAsync()
    {
        _worker.Stop(_workers.Count);
        await Task.WhenAll(_workers.ToArray());
    }

    public void Dispose() => _signal.Dispose();

    /// <summary>
    /// Once every task has ended and every owner finished: each admitted job was taken or removed exactly once, no refused
    /// job reached the queue, and nothing is left in the queue or in its line.
    /// </summary>
    public void AssertEveryJobAccountedFor(params ClaimingOwner[] owners)
    {
        Ledger.AssertEachAdmittedJobTakenOrRemovedOnce(owners);
        Specification.Assert(Queue.Waiting == 0, $"{Queue.Waiting} job(s) still wait in the queue.");
        Specification.Assert(Queue.WaitingForRoom == 0, $"{Queue.WaitingForRoom} producer(s) still wait in line.");
        Specification.Assert(!Queue.HasQueuedNow(), "A job is still queued.");
    }
}
