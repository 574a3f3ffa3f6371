using Microsoft.Extensions.Options;

namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>
/// Validates the named options of one registered pool with the pool's own rules, so that a bad value fails where
/// options fail (at host start with <c>ValidateOnStart()</c>, otherwise when the pool is first resolved) with an
/// <see cref="OptionsValidationException"/> whose message names the option and its value.
/// </summary>
internal sealed class WorkerPoolOptionsValidator(string poolName) : IValidateOptions<WorkerPoolOptions>
{
    public ValidateOptionsResult Validate(string? name, WorkerPoolOptions options)
    {
        if (!string.Equals(name, poolName, StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Skip;
        }

        try
        {
            options.Validate();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException e)
        {
            // ArgumentOutOfRangeException included. Its message names the option and the value it got.
            return ValidateOptionsResult.Fail($"Worker pool '{poolName}': {e.Message}");
        }
    }
}
