using Microsoft.Coyote.Specifications;

namespace WorkerPool.SystematicTests.Support;

/// <summary>
/// One iteration's pool without its typed layer: the pool's <see cref="WorkerScheduler"/> over a
/// <see cref="JobQueue{TOwner, TItem}"/>, whose workers (<see cref="ScheduledWorker"/>) start and retire as the pool's do.
/// Producers write jobs and then ask the scheduler for workers, as the pool's producer does; nothing else ever starts
/// one, so a job left in the queue with no worker to take it stays there, and <see cref="AssertQuietAsync"/> finds it.
/// </summary>
internal sealed class SchedulerScene
{
    private readonly Func<int, Task> _runJob;
    private readonly List<Task> _workers = [];
    private int _running;
    private int _peakRunning;

    /// <param name="maxWorkers">The scheduler's bound.</param>
    /// <param name="capacity">The queue's capacity.</param>
    /// <param name="runJob">What a worker does with a job it took; by default it yields once.</param>
    public SchedulerScene(int maxWorkers, int capacity, Func<int, Task>? runJob = null)
    {
        Queue = new JobQueue<ClaimingOwner, int>(capacity);
        Scheduler = new WorkerScheduler("systematic", maxWorkers, TimeProvider.System, Queue, id => new ScheduledWorker(id, this));
        _runJob = runJob ?? (static async _ => await Task.Yield());
    }

    public JobQueue<ClaimingOwner, int> Queue { get; }

    public WorkerScheduler Scheduler { get; }

    public JobLedger Ledger { get; } = new();

    /// <summary>The most jobs that ran at once.</summary>
    public int PeakRunning => Volatile.Read(ref _peakRunning);

    /// <summary>A producer: writes its jobs through the admission line, and asks for a worker after each one admitted.</summary>
    public async Task ProduceAsync(ClaimingOwner owner, params int[] jobs)
    {
        var waiter = new JobQueue<ClaimingOwner, int>.Waiter();
        foreach (int job in jobs)
        {
            Specification.Assert(
                await Queue.WriteAsync(owner, job, waiter, CancellationToken.None),
                $"Job {job} was refused, although its owner {owner} is open.");
            Ledger.Admitted(job);
            Scheduler.EnsureWorkers();
        }
    }

    /// <summary>
    /// Once every producer has ended: waits until the scheduler holds no worker, then checks that nothing was left in the
    /// queue, every admitted job was taken once, and every worker loop has returned.
    /// </summary>
    public async Task AssertQuietAsync(params ClaimingOwner[] owners)
    {
        await Scheduler.WhenNoWorkersAsync();
        Specification.Assert(!Queue.HasQueuedNow(), $"The pool has no worker, but {Queue.Waiting} job(s) wait in the queue.");
        Ledger.AssertEachAdmittedJobTakenOrRemovedOnce(owners);

        Task[] workers;
        lock (_workers)
        {
            workers = [.. _workers];
        }

        await Task.WhenAll(workers);
        Specification.Assert(Scheduler.ActiveWorkers == 0, $"{Scheduler.ActiveWorkers} worker(s) counted after all returned.");
    }

    private void Started(Task worker)
    {
        lock (_workers)
        {
            _workers.Add(worker);
        }
    }

    /// <summary>
    /// A worker slot whose worker is a task Coyote controls, with the pool worker's loop (BoundedWorkerPool.Workers.cs):
    /// retire when over the bound, take one job at a time, stay inside an owner between its jobs, and retire when the
    /// queue is empty, unless the scheduler sees a job queued meanwhile.
    /// </summary>
    private sealed class ScheduledWorker(int id, SchedulerScene scene) : WorkerSlotBase(id, TimeProvider.System)
    {
        internal override bool IsRunningJob => false;

        internal override bool TryDescribeRunningJob(string poolName, long now, out RunningJobInfo info)
        {
            info = default;
            return false;
        }

        public override void Execute() => scene.Started(RunAsync());

        internal override void Start() => Task.Run(Execute);

        private async Task RunAsync()
        {
            ClaimingOwner? entered = null;
            while (true)
            {
                if (scene.Scheduler.IsOverBound())
                {
                    Leave(ref entered);
                    if (scene.Scheduler.TryRetireExcessWorker(this))
                    {
                        break;
                    }
                }

                bool took = scene.Queue.TryTake(entered, out ClaimingOwner? owner, out int job);
                if (!ReferenceEquals(owner, entered))
                {
                    Leave(ref entered);
                    entered = owner;
                }

                if (!took)
                {
                    if (scene.Scheduler.TryRetireWorker(this))
                    {
                        break;
                    }

                    continue;
                }

                scene.Ledger.Taken(job);
                int running = Interlocked.Increment(ref scene._running);
                int peak = Volatile.Read(ref scene._peakRunning);
                while (running > peak && Interlocked.CompareExchange(ref scene._peakRunning, running, peak) != peak)
                {
                    peak = Volatile.Read(ref scene._peakRunning);
                }

                await scene._runJob(job);
                Interlocked.Decrement(ref scene._running);
            }
        }

        private static void Leave(ref ClaimingOwner? entered)
        {
            entered?.Exit();
            entered = null;
        }
    }
}
