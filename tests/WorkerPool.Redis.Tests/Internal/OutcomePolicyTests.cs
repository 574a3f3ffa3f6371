using WorkerPool.Redis.Internal;

namespace WorkerPool.Redis.Tests.Internal;

public sealed class OutcomePolicyTests
{
    [Theory]
    [InlineData(JobStatus.Succeeded, 1, Settlement.Acknowledge)]
    [InlineData(JobStatus.Succeeded, 9, Settlement.Acknowledge)]
    [InlineData(JobStatus.Failed, 1, Settlement.Retry)]
    [InlineData(JobStatus.Failed, 2, Settlement.Retry)]
    [InlineData(JobStatus.Failed, 3, Settlement.DeadLetter)]
    [InlineData(JobStatus.TimedOut, 2, Settlement.Retry)]
    [InlineData(JobStatus.TimedOut, 3, Settlement.DeadLetter)]
    [InlineData(JobStatus.Canceled, 1, Settlement.LeavePending)]
    [InlineData(JobStatus.Canceled, 3, Settlement.LeavePending)]
    internal void Decide_StatusAndDeliveries_GivesTheSettlement(JobStatus status, long deliveries, Settlement expected) =>
        OutcomePolicy.Decide(status, deliveries, maxDeliveries: 3).Should().Be(expected);
}
