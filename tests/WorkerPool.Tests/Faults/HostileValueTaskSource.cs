using System.Threading.Tasks.Sources;

namespace WorkerPool.Tests.Faults;

/// <summary>
/// The source behind a <see cref="ValueTask{TResult}"/> that can no longer be read, as when a pooled ValueTask is
/// consumed twice: every member throws <see cref="Error"/>, starting with <c>GetStatus</c>.
/// </summary>
internal sealed class HostileValueTaskSource : IValueTaskSource<int>
{
    public InvalidOperationException Error { get; } = new("This ValueTask has already been consumed.");

    public ValueTask<int> AsValueTask() => new(this, 0);

    public ValueTaskSourceStatus GetStatus(short token) => throw Error;

    public int GetResult(short token) => throw Error;

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) => throw Error;
}
