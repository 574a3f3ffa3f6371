using Microsoft.Extensions.Options;
using WorkerPool.Redis.Internal;

namespace WorkerPool.Redis.Hosting.Internal;

/// <summary>
/// Validates the named options of one registered worker with the rules of the worker, its source and its pool, so that
/// a bad value fails where options fail (at host start) with an <see cref="OptionsValidationException"/> whose message
/// names the option and its value. Every part is checked, and every failure reported.
/// </summary>
internal sealed class RedisStreamWorkerOptionsValidator(string workerName) : IValidateOptions<RedisStreamWorkerOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisStreamWorkerOptions options)
    {
        if (!string.Equals(name, workerName, StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Skip;
        }

        List<string> errors = [];
        Check(errors, options.Stream.Validate);
        Check(errors, () => PoolOptionsRules.Check(options.Pool));
        Check(errors, options.Pool.Validate);
        if (options.RestartDelay <= TimeSpan.Zero || options.RestartDelay > RedisStreamWorkerOptions.MaxRestartDelay)
        {
            errors.Add($"{nameof(RedisStreamWorkerOptions)}.{nameof(RedisStreamWorkerOptions.RestartDelay)} must be positive and at most {RedisStreamWorkerOptions.MaxRestartDelay}, but was {options.RestartDelay}.");
        }

        if (options.Database < -1)
        {
            errors.Add($"{nameof(RedisStreamWorkerOptions)}.{nameof(RedisStreamWorkerOptions.Database)} must be -1 (the connection's default) or a database number, but was {options.Database}.");
        }

        return errors.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(errors.Distinct().Select(error => $"Redis stream worker '{workerName}': {error}"));
    }

    private static void Check(List<string> errors, Action validate)
    {
        try
        {
            validate();
        }
        catch (ArgumentException e)
        {
            // ArgumentOutOfRangeException and ArgumentNullException included. Its first line is the message the rule wrote,
            // which names the option and the value it got, followed by the parameter's name, which says nothing more here.
            string message = e.Message.Split(Environment.NewLine)[0];
            string parameter = $" (Parameter '{e.ParamName}')";
            errors.Add(message.EndsWith(parameter, StringComparison.Ordinal) ? message[..^parameter.Length] : message);
        }
    }
}
