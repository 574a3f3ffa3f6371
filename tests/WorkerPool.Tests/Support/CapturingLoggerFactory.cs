using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace WorkerPool.Tests.Support;

/// <summary>An ILoggerFactory that records every entry, at every level.</summary>
internal sealed class CapturingLoggerFactory(LogLevel minimumLevel = LogLevel.Trace) : ILoggerFactory
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();
    private readonly ConcurrentQueue<string> _categories = new();
    private volatile int _minimumLevel = (int)minimumLevel;
    private int _callsBelowMinimum;

    public IReadOnlyList<LogEntry> Entries => _entries.ToArray();

    /// <summary>The category of every logger created, in order.</summary>
    public IReadOnlyList<string> Categories => _categories.ToArray();

    /// <summary>Gets or sets the lowest level the loggers report as enabled; a test may change it while the pool runs.</summary>
    public LogLevel MinimumLevel
    {
        get => (LogLevel)_minimumLevel;
        set => _minimumLevel = (int)value;
    }

    /// <summary>Gets how many times Log was called for a level that IsEnabled reported as disabled.</summary>
    public int CallsBelowMinimum => Volatile.Read(ref _callsBelowMinimum);

    public ILogger CreateLogger(string categoryName)
    {
        _categories.Enqueue(categoryName);
        return new CapturingLogger(this);
    }

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    internal sealed record LogEntry(LogLevel Level, EventId EventId, string Message, Exception? Exception, IReadOnlyList<KeyValuePair<string, object?>> State)
    {
        /// <summary>The scope the entry was written in, as its key/value pairs (empty if none).</summary>
        public IReadOnlyList<KeyValuePair<string, object?>> Scope { get; init; } = [];
    }

    private static readonly AsyncLocal<object?> CurrentScope = new();

    private sealed class ScopeHandle(object? previous) : IDisposable
    {
        public void Dispose() => CurrentScope.Value = previous;
    }

    private sealed class CapturingLogger(CapturingLoggerFactory owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            var handle = new ScopeHandle(CurrentScope.Value);
            CurrentScope.Value = state;
            return handle;
        }

        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner.MinimumLevel;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                Interlocked.Increment(ref owner._callsBelowMinimum);
                return;
            }

            var pairs = state as IReadOnlyList<KeyValuePair<string, object?>> ?? [];
            var scope = CurrentScope.Value as IReadOnlyList<KeyValuePair<string, object?>> ?? [];
            owner._entries.Enqueue(new LogEntry(logLevel, eventId, formatter(state, exception), exception, pairs.ToArray()) { Scope = scope.ToArray() });
        }
    }
}
