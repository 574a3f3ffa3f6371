namespace WorkerPool;

/// <summary>
/// The cancellation of a <c>SubmitAsync</c> call, told apart from a job's own <see cref="OperationCanceledException"/>.
/// Not generic and not nested, so that logs and traces, which print an exception's type, name it plainly.
/// </summary>
internal sealed class SubmissionCanceledException(string message, Exception innerException, CancellationToken token)
    : OperationCanceledException(message, innerException, token);
