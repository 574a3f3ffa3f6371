using Microsoft.Coyote.Specifications;
using WorkerPool.SystematicTests.Support;
using Xunit.Abstractions;

namespace WorkerPool.SystematicTests.Engine;

/// <summary>
/// Worker start and retire under the schedules Coyote tries: the pool's <see cref="WorkerScheduler"/> and queue, with
/// workers that loop as the pool's do (<see cref="SchedulerScene"/>). See docs/design.md, "Worker start and retire" and
/// "Systematic testing".
/// </summary>
public sealed class WorkerSchedulerSystematicTests(ITestOutputHelper output)
{
    /// <summary>
    /// Two producers write while the pool's one worker may be retiring: a job queued as the last worker retires is
    /// either seen by that worker (under the queue's lock) or starts a new one, so no job is left without a worker; and
    /// never more than one job runs, nor more than one worker is counted.
    /// </summary>
    [Fact]
    public void EnsureWorkers_ProducersWriteWhileTheLastWorkerRetires_NoJobIsLeftWithoutAWorker() => Systematic.Explore(async () =>
    {
        var scene = new SchedulerScene(maxWorkers: 1, capacity: 1);
        var a = new ClaimingOwner("a");
        var b = new ClaimingOwner("b");

        Task producerA = Task.Run(() => scene.ProduceAsync(a, 1, 2));
        Task producerB = Task.Run(() => scene.ProduceAsync(b, 11));
        await Task.WhenAll(new[] { producerA, producerB });

        await scene.AssertQuietAsync(a, b);
        Specification.Assert(scene.PeakRunning <= 1, $"{scene.PeakRunning} jobs ran at once with MaxWorkers 1.");
        Specification.Assert(scene.Scheduler.PeakWorkers <= 1, $"PeakWorkers is {scene.Scheduler.PeakWorkers} with MaxWorkers 1.");
    }, output);

    /// <summary>
    /// The pool's one worker runs a job that waits for another job, as a job that awaits a nested run of its own pool does:
    /// it lends its place, a second worker starts and takes the other job, the first takes its place back, and the worker
    /// over the bound retires. Without the lent place this would never end.
    /// </summary>
    [Fact]
    public void Lend_AJobWaitsForAnotherJob_ASecondWorkerTakesItAndTheExcessWorkerRetires() => Systematic.Explore(async () =>
    {
        var inner = new ClaimingOwner("inner");
        var innerTaken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        SchedulerScene? scene = null;
        scene = new SchedulerScene(maxWorkers: 1, capacity: 2, runJob: async job =>
        {
            if (job == 2)
            {
                innerTaken.SetResult();
                return;
            }

            scene!.Scheduler.Lend();
            await scene.ProduceAsync(inner, 2);
            await innerTaken.Task;
            scene.Scheduler.TakeBack();
        });
        var outer = new ClaimingOwner("outer");

        await scene.ProduceAsync(outer, 1);

        await innerTaken.Task;
        await scene.AssertQuietAsync(outer, inner);
        Specification.Assert(scene.Scheduler.LentPlaces == 0, "The lent place was not taken back.");
        Specification.Assert(scene.PeakRunning <= 2, $"{scene.PeakRunning} jobs ran at once with MaxWorkers 1 and one place lent.");
    }, output);
}
