using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using WorkerPool.Testing;
using WorkerPool.Tests.Support;

namespace WorkerPool.Extensions.Hosting.Tests;

public sealed class WorkerPoolDrainServiceTests
{
    [Fact]
    public async Task StopAsync_RunInFlight_FinishesNormallyThenPoolIsDisposed()
    {
        string name = TestHosts.UniqueName("drain");
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddWorkerPool<string, string, TestHandler>(name);
        using IHost host = builder.Build();
        await host.StartAsync();
        BoundedWorkerPool<string, string> pool = host.Pool(name);
        TestGates gates = host.Gates();

        Task<IReadOnlyList<JobResult<string, string>>> run = pool.RunAsync(["wait", "ok"]);
        await gates.Started.Task;
        Task stop = host.StopAsync();

        stop.IsCompleted.Should().BeFalse("the host waits for the run in flight");
        gates.Release.SetResult();
        await stop;

        run.IsCompletedSuccessfully.Should().BeTrue("the run finished before StopAsync returned");
        (await run).Select(r => r.Status).Should().Equal(JobStatus.Succeeded, JobStatus.Succeeded);
        (await run)[0].Value.Should().Be("released");
        pool.ShouldBeDisposed("the pool is disposed after its drain");
        await WorkerPoolLeakCheck.VerifyNoneAsync(name);
    }

    [Fact]
    public async Task StopAsync_ShutdownTokenCancelled_CancelsRunAndReturnsOnlyOnceItsWorkStopped()
    {
        string name = TestHosts.UniqueName("drain-cancel");
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddWorkerPool<string, string, TestHandler>(name);
        using IHost host = builder.Build();
        await host.StartAsync();
        BoundedWorkerPool<string, string> pool = host.Pool(name);
        TestGates gates = host.Gates();
        using var shutdownTimeout = new CancellationTokenSource();

        Task<IReadOnlyList<JobResult<string, string>>> run = pool.RunAsync(["stubborn"]);
        await gates.Started.Task;
        Task stop = host.StopAsync(shutdownTimeout.Token);
        stop.IsCompleted.Should().BeFalse("the run cannot finish by itself");

        // The host's shutdown timeout elapses: the run is cancelled, but its job takes a while to stop.
        await shutdownTimeout.CancelAsync();
        await gates.SawCancellation.Task;
        stop.IsCompleted.Should().BeFalse("the job has seen its cancellation but has not returned yet");
        run.IsCompleted.Should().BeFalse();

        gates.Release.SetResult();
        await stop;

        gates.Returned.Task.IsCompleted.Should().BeTrue("StopAsync returned only once the job's work had stopped");
        WorkerPoolCanceledException<string, string> canceled =
            (await run.Invoking(r => r).Should().ThrowAsync<WorkerPoolCanceledException<string, string>>()).Which;
        canceled.Results.Should().ContainSingle().Which.Status.Should().Be(JobStatus.Canceled);
        await WorkerPoolLeakCheck.VerifyNoneAsync(name);
    }

    [Fact]
    public async Task StopAsync_AJobOfARunPastItsShutdownTimeoutStillRuns_FailsNamingItAfterTheTokenAndOneShutdownTimeout()
    {
        string name = TestHosts.UniqueName("drain-stuck");
        TimeSpan shutdownTimeout = TimeSpan.FromSeconds(5);
        var clock = new TestClock();
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.Services.AddWorkerPool<string, string, TestHandler>(name).Configure(o => o.ShutdownTimeout = shutdownTimeout);
        using IHost host = builder.Build();
        await host.StartAsync();
        BoundedWorkerPool<string, string> pool = host.Pool(name);
        TestGates gates = host.Gates();
        using var runCts = new CancellationTokenSource();
        using var hostShutdownTimeout = new CancellationTokenSource();
        try
        {
            // The run is cancelled, and its job holds on past ShutdownTimeout: the run throws and the job goes on.
            Task<IReadOnlyList<JobResult<string, string>>> run = pool.RunAsync(["stubborn"], runCts.Token);
            await gates.Started.Task.Within();
            await runCts.CancelAsync();
            await gates.SawCancellation.Task.Within();
            await clock.TimerSet(shutdownTimeout).Within();
            clock.Advance(shutdownTimeout);
            await run.ShouldThrowAsync<WorkerPoolShutdownTimeoutException>();

            // No run is left, but the job's worker is: the host's stop waits for it until its own token is cancelled, then
            // at most the pool's ShutdownTimeout, and fails naming the job.
            Task stop = host.StopAsync(hostShutdownTimeout.Token);
            stop.IsCompleted.Should().BeFalse("a job of the pool still runs");
            await hostShutdownTimeout.CancelAsync();
            await clock.TimerSet(shutdownTimeout, count: 2).Within();
            clock.Advance(shutdownTimeout);

            Exception failure = await stop.ShouldThrowAsync<Exception>();
            WorkerPoolShutdownTimeoutException timeout = failure is AggregateException aggregate
                ? aggregate.Flatten().InnerExceptions.OfType<WorkerPoolShutdownTimeoutException>().Single()
                : failure.Should().BeOfType<WorkerPoolShutdownTimeoutException>().Subject;
            timeout.RunningJobs.Should().ContainSingle().Which.Job.Should().Be("stubborn");
            pool.ShouldBeDisposed("the pool is disposed even though its drain failed, without waiting a second ShutdownTimeout for the same job");
        }
        finally
        {
            gates.Release.TrySetResult();
        }

        await gates.Returned.Task.Within();
        await WorkerPoolLeakCheck.VerifyNoneAsync(name);
    }

    [Fact]
    public async Task StopAsync_PoolNeverResolved_IsNotBuilt()
    {
        string name = TestHosts.UniqueName("unused");
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        // Options that could not build a pool: the host's stop must not try to.
        builder.Services.AddWorkerPool<string, string, TestHandler>(name).Configure(o => o.MaxWorkers = 0);
        using IHost host = builder.Build();
        await host.StartAsync();

        await host.Invoking(h => h.StopAsync()).Should().NotThrowAsync();
    }

    [Fact]
    public async Task StopAsync_ManyPools_DrainsEach()
    {
        string first = TestHosts.UniqueName("first");
        string second = TestHosts.UniqueName("second");
        HostApplicationBuilder builder = TestHosts.CreateBuilder();
        builder.Services.AddWorkerPool<string, string, TestHandler>(first);
        builder.Services.AddWorkerPool<string, string, TestHandler>(second);
        using IHost host = builder.Build();
        await host.StartAsync();

        Task<IReadOnlyList<JobResult<string, string>>> run = host.Pool(first).RunAsync(["wait"]);
        await host.Gates().Started.Task;
        _ = host.Pool(second);
        Task stop = host.StopAsync();
        host.Gates().Release.SetResult();
        await stop;

        (await run).Should().ContainSingle().Which.Status.Should().Be(JobStatus.Succeeded);
        host.Pool(first).ShouldBeDisposed();
        host.Pool(second).ShouldBeDisposed();
    }
}
