using Microsoft.Extensions.Logging;

namespace WorkerPool.Tests.Support;

/// <summary>
/// A logger, enabled from Debug up, that runs <see cref="Hook"/> once, the first time the pool writes the event named
/// <c>eventName</c>, on the thread that writes it: a test's way to act at a known point inside the pool.
/// </summary>
internal sealed class HookLoggerFactory(string eventName) : ILoggerFactory, ILogger
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _written = new();

    /// <summary>The action to run; taken (and cleared) by the first matching event.</summary>
    public Action? Hook;

    /// <summary>The names of the events written so far, in order.</summary>
    public IReadOnlyCollection<string> Written => _written;

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        _written.Enqueue(eventId.Name ?? string.Empty);
        if (eventId.Name == eventName)
        {
            Interlocked.Exchange(ref Hook, null)?.Invoke();
        }
    }
}
