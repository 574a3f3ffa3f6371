using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace WorkerPool.Benchmarks;

/// <summary>
/// What throwing and catching one <see cref="OperationCanceledException"/> costs in this process, on one thread and on
/// several threads throwing at once: the floor of the cancellation workload, where every parked job throws one.
/// </summary>
internal static class ThrowCost
{
    private const int Rounds = 5;

    /// <summary>
    /// Wall-clock nanoseconds per throw while <paramref name="threads"/> threads each throw
    /// <paramref name="throwsPerThread"/> exceptions at once: the median of a few rounds.
    /// </summary>
    public static double NanosecondsPerThrow(int threads, int throwsPerThread)
    {
        ThrowMany(100);
        var rounds = new double[Rounds];
        for (int round = 0; round < Rounds; round++)
        {
            using var start = new Barrier(threads + 1);
            var workers = new Thread[threads];
            for (int t = 0; t < threads; t++)
            {
                workers[t] = new Thread(() =>
                {
                    start.SignalAndWait();
                    ThrowMany(throwsPerThread);
                });
                workers[t].Start();
            }

            start.SignalAndWait();
            long started = Stopwatch.GetTimestamp();
            foreach (Thread worker in workers)
            {
                worker.Join();
            }

            rounds[round] = Stopwatch.GetElapsedTime(started).TotalNanoseconds / ((double)threads * throwsPerThread);
        }

        Array.Sort(rounds);
        return rounds[Rounds / 2];
    }

    private static void ThrowMany(int count)
    {
        for (int i = 0; i < count; i++)
        {
            try
            {
                Throw();
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw() => throw new OperationCanceledException();
}
