using Microsoft.Coyote.Specifications;

namespace WorkerPool.SystematicTests.Support;

/// <summary>
/// A worker over a <see cref="JobQueue{TOwner, TItem}"/>, shaped like the pool's: it takes one job at a time, stays
/// inside an owner while it takes that owner's jobs one after the other, and leaves it when it takes another owner's
/// job or none. Where the pool's worker would retire, this one waits for a producer's signal, until it is told to stop.
/// Every job it takes is checked against its owner: the owner's finish must not have returned, neither when the job is
/// taken nor after the job has run.
/// </summary>
internal sealed class QueueWorker(JobQueue<ClaimingOwner, int> queue, SemaphoreSlim signal, JobLedger ledger)
{
    private volatile bool _stopping;

    /// <summary>Tells the workers to stop once they find the queue empty; <paramref name="workers"/> is how many wait.</summary>
    public void Stop(int workers)
    {
        _stopping = true;
        signal.Release(workers);
    }

    public async Task RunAsync()
    {
        ClaimingOwner? entered = null;
        while (true)
        {
            bool took = queue.TryTake(entered, out ClaimingOwner? owner, out int job);
            if (!ReferenceEquals(owner, entered))
            {
                entered?.Exit();
                entered = owner;
            }

            if (took)
            {
                Specification.Assert(!owner!.IsFinished, $"Job {job} was handed to a worker after its owner {owner}'s finish returned.");
                ledger.Taken(job);

                // The job runs: anything may happen meanwhile, but not the end of its owner's finish.
                await Task.Yield();
                Specification.Assert(!owner.IsFinished, $"Job {job} was still running when its owner {owner}'s finish returned.");
                continue;
            }

            if (_stopping)
            {
                return;
            }

            await signal.WaitAsync();
        }
    }
}
