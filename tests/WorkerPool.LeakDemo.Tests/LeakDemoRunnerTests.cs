using System.Net.Sockets;
using LeakDemo;

namespace WorkerPool.LeakDemo.Tests;

public sealed class LeakDemoRunnerTests(LeakDemoRunFixture fixture) : IClassFixture<LeakDemoRunFixture>
{
    private readonly LeakDemoResult _result = fixture.Result;

    [Fact]
    public void RunAsync_PooledEndpoint_StaysWithinMaxWorkersAndRecoversWithinOneSecond()
    {
        EndpointReport pooled = _result.Pooled;

        pooled.Load.Sent.Should().Be(LeakDemoRunFixture.Options.Requests);
        pooled.PeakLiveSubJobs.Should().BeInRange(1, LeakDemoRunFixture.Options.MaxWorkers);
        pooled.PeakActiveWorkers.Should().BeLessThanOrEqualTo(LeakDemoRunFixture.Options.MaxWorkers);
        _result.PoolStatistics.PeakWorkers.Should().BeLessThanOrEqualTo(LeakDemoRunFixture.Options.MaxWorkers);
        pooled.Recovery.Should().NotBeNull("every sub-job of /pooled ends with its request")
            .And.BeLessThan(TimeSpan.FromSeconds(1));
        pooled.LiveSubJobsAtEnd.Should().Be(0);
        _result.PoolStatistics.RunningJobs.Should().Be(0);
    }

    [Fact]
    public void RunAsync_LeakyEndpoint_LeavesTasksBlockedUntilReleased()
    {
        EndpointReport leaky = _result.Leaky;

        leaky.Load.Sent.Should().Be(LeakDemoRunFixture.Options.Requests);
        leaky.LiveSubJobsAtLoadEnd.Should().BeGreaterThan(0);
        leaky.LiveSubJobsAtEnd.Should().BeGreaterThan(0, "senders blocked on a channel nobody reads never end by themselves");
        leaky.Recovery.Should().BeNull();
        leaky.PeakLiveSubJobs.Should().BeGreaterThan(LeakDemoRunFixture.Options.MaxWorkers);

        // Closing the abandoned channels ends every one of them.
        _result.Release.Blocked.Should().Be(leaky.LiveSubJobsAtEnd);
        _result.Release.LiveAfter.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_Completed_KestrelNoLongerListens()
    {
        Uri address = _result.ServerAddress;
        using var client = new TcpClient();

        Func<Task> connect = () => client.ConnectAsync(address.Host, address.Port);

        (await connect.Should().ThrowAsync<SocketException>())
            .Which.SocketErrorCode.Should().Be(SocketError.ConnectionRefused);
    }
}
