using Microsoft.Coyote.Specifications;
using WorkerPool.SystematicTests.Support;
using Xunit.Abstractions;

namespace WorkerPool.SystematicTests.Engine;

/// <summary>
/// A stream run's credit window under the schedules Coyote tries: one producer taking credits, one consumer giving them
/// back, and the run's cancellation closing the window at any moment.
/// </summary>
public sealed class CreditWindowSystematicTests(ITestOutputHelper output)
{
    private const int Size = 2;
    private const int Jobs = 5;

    /// <summary>
    /// The producer, taking several credits at a time, never holds more than the window's credits, its wait ends whether the consumer gives a credit back or
    /// the window closes, and once closed it takes no more.
    /// </summary>
    [Fact]
    public void TakeAsync_ConsumerGivesBackWhileTheWindowCloses_NeverMoreThanItsSizeOutAndNoWaitLeftPending() => Systematic.Explore(async () =>
    {
        var window = new CreditWindow(Size);
        using var pulled = new SemaphoreSlim(0);
        int taken = 0;
        int givenBack = 0;
        int consumed = 0;
        bool producerDone = false;
        bool closed = false;

        Task producer = Task.Run(async () =>
        {
            while (Volatile.Read(ref taken) < Jobs)
            {
                bool closedBefore = Volatile.Read(ref closed);
                int wanted = Math.Min(Size, Jobs - Volatile.Read(ref taken));
                int got = await window.TakeAsync(wanted);
                if (got == 0)
                {
                    break;
                }

                Specification.Assert(!closedBefore, "A take that began after the window closed got a credit.");
                Specification.Assert(got <= wanted, $"A take of at most {wanted} credits got {got}.");
                int outstanding = Interlocked.Add(ref taken, got) - Volatile.Read(ref givenBack);
                Specification.Assert(outstanding <= Size, $"{outstanding} credits are out of a window of {Size}.");
                pulled.Release(got);
            }

            Volatile.Write(ref producerDone, true);
            pulled.Release();
        });

        Task consumer = Task.Run(async () =>
        {
            int held = 0;
            while (true)
            {
                // As the stream's consumer does: give back every credit held before waiting for the next outcome.
                if (held > 0)
                {
                    Interlocked.Add(ref givenBack, held);
                    window.Release(held);
                    held = 0;
                }

                if (Volatile.Read(ref producerDone) && consumed == Volatile.Read(ref taken))
                {
                    return;
                }

                await pulled.WaitAsync();
                if (consumed < Volatile.Read(ref taken))
                {
                    consumed++;
                    held++;
                }
            }
        });

        Task closer = Task.Run(() =>
        {
            window.Close();
            Volatile.Write(ref closed, true);
        });

        await Task.WhenAll(new[] { producer, consumer, closer });
        window.Close();
        Specification.Assert(await window.TakeAsync(1) == 0, "A closed window gives no credit.");
        Specification.Assert(consumed == taken, $"{taken} jobs pulled, {consumed} consumed.");
    }, output);
}
