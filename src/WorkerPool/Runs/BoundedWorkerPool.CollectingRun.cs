namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>
    /// The run of a RunAsync call: workers write outcomes straight into its <see cref="Collector"/>, in input order, and
    /// its consumer (<see cref="CollectAsync"/>) waits until the last one is written or the run stops.
    /// </summary>
    private sealed class CollectingRun : SourceRun
    {
        internal CollectingRun(BoundedWorkerPool<TJob, TResult> pool, ResultCollector<TJob, TResult> collector, CancellationToken callerToken)
            : base(pool, callerToken)
        {
            Collector = collector;
            Link();
        }

        private readonly TaskCompletionSource _readyToFinish = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Task? _consumer;

        /// <summary>Where workers write outcomes, in input order.</summary>
        internal ResultCollector<TJob, TResult> Collector { get; }

        /// <summary>
        /// Completes (never faults) once the source is exhausted and every pulled job's outcome is written to the
        /// <see cref="Collector"/>, or once the run starts to stop, whichever comes first. A run that has not started to
        /// stop by then has written every outcome.
        /// </summary>
        internal Task ReadyToFinish => _readyToFinish.Task;

        /// <summary>
        /// Records the task RunAsync returns (the collector's result, unwrapped), which disposal waits for, and returns it:
        /// so that once DisposeAsync returns, every RunAsync call it cancelled has completed.
        /// </summary>
        internal Task<T> SetConsumer<T>(Task<T> consumer)
        {
            Volatile.Write(ref _consumer, consumer);
            return consumer;
        }

        protected override void OnPulled(long index) => Collector.EnsureSlot(index);

        internal override void Publish(in JobResult<TJob, TResult> result) => Collector.Add(result);

        protected override void MarkAllWritten() => _readyToFinish.TrySetResult();

        protected override void OnStopRequested(bool fromOutside) => _readyToFinish.TrySetResult();

        internal override void MarkEnded() => _ended.TrySetResult();

        /// <summary>Completes once the producer has ended and the task RunAsync returned has completed.</summary>
        internal override async Task WhenLoopsEndedAsync()
        {
            await Producer.ConfigureAwait(false);
            await _ended.Task.ConfigureAwait(false);

            // Set before the collector's first await returned to RunAsync; once the run has ended, it is set or the
            // collector completed synchronously and RunAsync is about to return its finished task.
            if (Volatile.Read(ref _consumer) is { } consumer)
            {
                await consumer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}
