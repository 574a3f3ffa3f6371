using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace WorkerPool.Benchmarks;

/// <summary>The BenchmarkDotNet configuration for both modes.</summary>
internal static class BenchmarkConfig
{
    public static IConfig Create(WorkloadSettings settings)
    {
        // In-process: the pool and its alternatives run in this very process, with the sizes Program chose. Every
        // operation runs thousands of jobs and lasts milliseconds, so neither loop unrolling nor a minimum of several
        // invocations per iteration is of any use: they would only lengthen iterations.
        Job job = Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithUnrollFactor(1)
            .WithMinInvokeCount(1);
        job = settings == WorkloadSettings.Quick
            ? job.WithId("Quick").WithWarmupCount(2).WithIterationCount(7).WithIterationTime(TimeInterval.FromMilliseconds(200))
            : job.WithId("Full").WithWarmupCount(4).WithMinIterationCount(15).WithMaxIterationCount(30);

        return DefaultConfig.Instance
            .AddJob(job)
            .AddColumn(StatisticColumn.Median)
            .AddColumn(PerJobColumn.Time, PerJobColumn.Allocation);
    }
}
