using Microsoft.Extensions.Logging;

namespace WorkerPool.Tests.Faults;

/// <summary>
/// A logging provider that is enabled at every level and throws from every <c>Log</c> and <c>BeginScope</c> call: the
/// pool must do its work as if it were not there.
/// </summary>
internal sealed class ThrowingLoggerFactory : ILoggerFactory
{
    private int _calls;

    /// <summary>Gets how many times the pool called <c>Log</c> or <c>BeginScope</c>.</summary>
    public int Calls => Volatile.Read(ref _calls);

    public ILogger CreateLogger(string categoryName) => new ThrowingLogger(this);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    /// <summary>What the provider throws.</summary>
    internal sealed class LoggingFailedException() : Exception("the logging provider failed");

    private sealed class ThrowingLogger(ThrowingLoggerFactory owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            Interlocked.Increment(ref owner._calls);
            throw new LoggingFailedException();
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            Interlocked.Increment(ref owner._calls);
            throw new LoggingFailedException();
        }
    }
}
