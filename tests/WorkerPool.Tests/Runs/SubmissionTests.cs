using System.Reflection;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.Runs;

/// <summary>
/// A submission's registrations on the pool's long-lived disposal token: whichever way it ends, none is left behind.
/// These tests look into the runtime's CancellationTokenSource (its registration list and lock) to hold the caller
/// between its two registrations.
/// </summary>
public sealed class SubmissionTests : PoolTest
{
    private const BindingFlags Any = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;

    private static object Registrations(CancellationTokenSource cts) =>
        typeof(CancellationTokenSource).GetField("_registrations", Any)!.GetValue(cts)
        ?? throw new InvalidOperationException("no registrations yet");

    // The runtime's name for the lock of a token source's registration list: _locked on .NET 10, _lock on .NET 8.
    private static FieldInfo LockField(object registrations) =>
        registrations.GetType().GetField("_locked", Any)
        ?? registrations.GetType().GetField("_lock", Any)
        ?? throw new InvalidOperationException("fields: " + string.Join(", ", registrations.GetType().GetFields(Any).Select(f => f.Name)));

    private static List<object?> CallbackStates(CancellationTokenSource cts)
    {
        object registrations = Registrations(cts);
        object? node = registrations.GetType().GetField("Callbacks", Any)!.GetValue(registrations);
        var states = new List<object?>();
        while (node is not null)
        {
            states.Add(node.GetType().GetField("CallbackState", Any)!.GetValue(node));
            node = node.GetType().GetField("Next", Any)!.GetValue(node);
        }

        return states;
    }

    [Fact]
    public async Task SubmitAsync_CancelledAndEndedWhileTheCallerRegisters_LeavesNoRegistrationOnThePoolsToken()
    {
        var logger = new HookLoggerFactory("RunStarted"); // Register logs RunStarted at Debug
        var blockerStarted = TestExtensions.NewGate();
        var releaseBlocker = TestExtensions.NewGate();
        await using var pool = new BoundedWorkerPool<int, int>(
            async (job, _) =>
            {
                if (job == 0)
                {
                    blockerStarted.TrySetResult();
                    await releaseBlocker.Task;
                }

                return job;
            },
            new WorkerPoolOptions { MaxWorkers = 1, ShutdownTimeout = TimeSpan.FromSeconds(5) },
            logger);
        var disposeCts = (CancellationTokenSource)typeof(BoundedWorkerPool<int, int>).GetField("_disposeCts", Any)!.GetValue(pool)!;

        ValueTask<int> blocker = pool.SubmitAsync(0);
        await blockerStarted.Task.Within();
        object registrations = Registrations(disposeCts); // exists: the blocker registered on it
        FieldInfo lockField = LockField(registrations);
        object unlocked = lockField.FieldType == typeof(bool) ? false : 0;
        try
        {
            // The next run's RunStarted (in Register, after its linked token source registered on the pool's token and
            // before Submitted registers on it) takes the pool token's registration lock: Submitted's second
            // registration then waits there, with the caller's registration already made.
            var hooked = TestExtensions.NewGate();
            logger.Hook = () =>
            {
                lockField.SetValue(registrations, lockField.FieldType == typeof(bool) ? true : 1);
                hooked.TrySetResult();
            };

            using var callerCts = new CancellationTokenSource();
            var submittedTask = new TaskCompletionSource<Task<int>>(TaskCreationOptions.RunContinuationsAsynchronously);
            var caller = new Thread(() => submittedTask.SetResult(pool.SubmitAsync(1, callerCts.Token).AsTask())) { IsBackground = true };
            caller.Start();
            await hooked.Task.Within();

            // Cancel: the cancellation path removes the job from the queue (the one worker is busy), unregisters (the
            // disposal registration is not stored yet), and counts the job never started.
            await callerCts.CancelAsync();
            await TestExtensions.UntilAsync(() => pool.GetStatistics().Canceled == 1);

            // Let the caller store its disposal registration.
            lockField.SetValue(registrations, unlocked);
            Task<int> submitted = await submittedTask.Task.Within();
            await submitted.ShouldThrowAsync<OperationCanceledException>();
        }
        finally
        {
            // Whatever failed above, the lock is let go and the blocking job returns, so that nothing outlives the test.
            lockField.SetValue(registrations, unlocked);
            releaseBlocker.TrySetResult();
        }

        (await blocker.Within()).Should().Be(0);
        await TestExtensions.UntilAsync(() => pool.GetStatistics().ActiveWorkers == 0);

        List<object?> left = CallbackStates(disposeCts);
        left.Select(state => state?.GetType().Name).Should().BeEmpty(
            "every submission has ended, so none may still be registered on the pool's long-lived disposal token");
    }
}
