using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace WorkerPool.Redis.Hosting.Tests.Support;

/// <summary>Keeps every log entry of a host, at every level.</summary>
internal sealed class EventLog : ILoggerProvider, ILogger
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyCollection<Entry> Entries => _entries;

    public IEnumerable<Entry> WithId(int eventId) => _entries.Where(entry => entry.EventId == eventId);

    public ILogger CreateLogger(string categoryName) => this;

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _entries.Enqueue(new Entry(eventId.Id, eventId.Name, logLevel, formatter(state, exception), exception));

    internal sealed record Entry(int EventId, string? EventName, LogLevel Level, string Message, Exception? Exception);
}
