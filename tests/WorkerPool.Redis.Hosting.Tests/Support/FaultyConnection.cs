using System.Reflection;
using StackExchange.Redis;

namespace WorkerPool.Redis.Hosting.Tests.Support;

/// <summary>
/// A connection whose databases fail every command with <see cref="Fault"/> (by default a
/// <see cref="RedisConnectionException"/>, as while Redis is unreachable) while <see cref="Down"/> is set. Everything else
/// goes to the real connection.
/// </summary>
public class FaultyConnection : DispatchProxy
{
    private IConnectionMultiplexer _inner = null!;
    private volatile bool _down;

    /// <summary>While set, every command of the connection's databases fails.</summary>
    public bool Down
    {
        get => _down;
        set => _down = value;
    }

    /// <summary>The error every command fails with while <see cref="Down"/> is set.</summary>
    public Func<Exception> Fault { get; set; } = CutOff;

    public static FaultyConnection Over(IConnectionMultiplexer inner)
    {
        var faulty = (FaultyConnection)(object)Create<IConnectionMultiplexer, FaultyConnection>();
        faulty._inner = inner;
        return faulty;
    }

    public IConnectionMultiplexer AsConnection() => (IConnectionMultiplexer)(object)this;

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        object? result = targetMethod.Invoke(_inner, args);
        return result is IDatabase database ? FaultyDatabase.Over(database, this) : result;
    }

    public static RedisConnectionException CutOff() =>
        new(ConnectionFailureType.SocketFailure, CommandFlags.None, "The test cut the connection.", innerException: null, CommandStatus.Sent);

    /// <summary>One database of a <see cref="FaultyConnection"/>.</summary>
    public class FaultyDatabase : DispatchProxy
    {
        private static readonly MethodInfo FromException = typeof(Task).GetMethods()
            .Single(method => method.Name == nameof(Task.FromException) && method.IsGenericMethodDefinition);

        private IDatabase _inner = null!;
        private FaultyConnection _connection = null!;

        public static IDatabase Over(IDatabase inner, FaultyConnection connection)
        {
            var faulty = (FaultyDatabase)(object)Create<IDatabase, FaultyDatabase>();
            faulty._inner = inner;
            faulty._connection = connection;
            return (IDatabase)(object)faulty;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            if (_connection.Down && typeof(Task).IsAssignableFrom(targetMethod.ReturnType))
            {
                Exception fault = _connection.Fault();
                return targetMethod.ReturnType == typeof(Task)
                    ? Task.FromException(fault)
                    : FromException.MakeGenericMethod(targetMethod.ReturnType.GetGenericArguments()[0]).Invoke(null, [fault]);
            }

            return targetMethod.Invoke(_inner, args);
        }
    }
}
