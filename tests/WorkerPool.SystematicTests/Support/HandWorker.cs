using Microsoft.Coyote.Specifications;

namespace WorkerPool.SystematicTests.Support;

/// <summary>
/// A worker that takes batches, as the pool's worker does with <c>WorkerBatchSize</c> above 1: it fills its hand with
/// each take, claims the hand's jobs one at a time without the queue's lock, and gives the hand back once, after
/// <c>giveBackAfter</c> jobs (as a worker does before it waits for a job), and, if <c>awaitEvery</c> is above 0, before
/// the job of every <c>awaitEvery</c>th take awaits (as the pool's worker does before a job that does not complete at
/// once). Jobs given back for a closed owner it ends itself, inside that owner. It stops the first time it finds
/// nothing: the scene's other workers take what comes later. Every job it takes or ends is checked against its owner's
/// finish, as <see cref="QueueWorker"/> does.
/// </summary>
internal sealed class HandWorker(JobQueue<ClaimingOwner, int> queue, JobLedger ledger, int giveBackAfter, int awaitEvery = 0)
{
    public async Task RunAsync()
    {
        JobQueue<ClaimingOwner, int>.Hand hand = queue.NewHand();
        ClaimingOwner? entered = null;
        int done = 0;
        while (true)
        {
            bool took;
            ClaimingOwner? owner;
            int job;
            if (hand.TryTakeNext(out job))
            {
                took = true;
                owner = entered;
            }
            else
            {
                took = queue.TryTake(entered, hand, fill: true, out owner, out job);
                if (!ReferenceEquals(owner, entered))
                {
                    entered?.Exit();
                    entered = owner;
                }
            }

            if (!took)
            {
                Specification.Assert(hand.Held == 0, "A worker that found nothing holds no hand.");
                entered?.Exit();
                return;
            }

            Specification.Assert(!owner!.IsFinished, $"Job {job} was handed to a worker after its owner {owner}'s finish returned.");
            ledger.Taken(job);
            ++done;
            if ((done == giveBackAfter || (awaitEvery > 0 && done % awaitEvery == 0)) && hand.Held > 0)
            {
                queue.ReturnHand(hand, out List<int>? unstarted);
                Specification.Assert(hand.Held == 0, "A hand given back is empty.");
                foreach (int ended in unstarted ?? [])
                {
                    Specification.Assert(owner.IsClosed && !owner.IsFinished, $"Job {ended} came back unstarted although its owner {owner} is open or finished.");
                    ledger.Taken(ended);
                }
            }

            // The job runs: anything may happen meanwhile, but not the end of its owner's finish.
            await Task.Yield();
            Specification.Assert(!owner.IsFinished, $"Job {job} was still running when its owner {owner}'s finish returned.");
        }
    }
}
