using System.Threading.Channels;

namespace WorkerPool;

public sealed partial class BoundedWorkerPool<TJob, TResult>
{
    /// <summary>
    /// The run of a StreamAsync enumeration: workers write outcomes to its unbounded <see cref="Results"/> channel, in
    /// completion order, and its <see cref="Window"/> of credits keeps the producer at most a window ahead of the
    /// consumer (<see cref="StreamEnumerator"/>).
    /// </summary>
    private sealed class StreamingRun : SourceRun
    {
        private const int MaxCreditBatch = 32;

        // The token passed to the enumerator, which cancels the run as the caller's does, and the registration that does it.
        private readonly CancellationToken _enumeratorToken;
        private readonly CancellationTokenRegistration _enumeratorLink;

        internal StreamingRun(BoundedWorkerPool<TJob, TResult> pool, CancellationToken callerToken, CancellationToken enumeratorToken)
            : base(pool, callerToken)
        {
            _enumeratorToken = enumeratorToken;
            // Stryker disable once Initializer,Boolean : channel tuning hints; any valid setting gives the same results
            Results = Channel.CreateUnbounded<JobResult<TJob, TResult>>(new UnboundedChannelOptions
            {
                SingleReader = true,
                SingleWriter = false,
                AllowSynchronousContinuations = false,
            });

            // QueueCapacity + MaxWorkers may not fit in an int; beyond int.MaxValue the window is unbounded anyway.
            int windowSize = (int)Math.Min((long)pool._options.QueueCapacity + pool._options.MaxWorkers, int.MaxValue);
            Window = new CreditWindow(windowSize);
            // Stryker disable once Arithmetic : any batch from 1 to the window keeps the bound; the size is throughput only
            CreditBatch = Math.Clamp(windowSize / 4, 1, MaxCreditBatch);

            // The producer's and the consumer's waits take no token: OnStopRequested ends both.
            Link();
            if (enumeratorToken.CanBeCanceled)
            {
                _enumeratorLink = enumeratorToken.UnsafeRegister(CancelRun, this);
            }
        }

        protected override CancellationToken EnumeratorToken => _enumeratorToken;

        internal override void Unlink()
        {
            _enumeratorLink.Unregister();
            base.Unlink();
        }

        /// <summary>
        /// Outcomes of taken jobs, in completion order. Unbounded: a worker never waits to hand off. It completes once
        /// the source is exhausted and every pulled job's outcome is written.
        /// </summary>
        internal Channel<JobResult<TJob, TResult>> Results { get; }

        /// <summary>Credits that bound jobs pulled but not yet yielded to the consumer.</summary>
        internal CreditWindow Window { get; }

        /// <summary>
        /// How many credits the consumer gives back at once. Fewer, larger releases wake the producer less often; a
        /// quarter of the window keeps the producer ahead, and the consumer gives back everything it holds before it
        /// waits for an outcome, so held credits never stall the run.
        /// </summary>
        internal int CreditBatch { get; }

        /// <summary>Whether the consumer disposed its enumerator before the run ended.</summary>
        internal bool AbandonedByConsumer { get; set; }

        internal static bool IsWakeMarker(in JobResult<TJob, TResult> result) => result.Index < 0;

        // A window's wait ends when the consumer gives credits back, or when the run's stop closes it.
        internal override ValueTask<int> TakeCreditsAsync(int most) =>
            Token.IsCancellationRequested ? new ValueTask<int>(0) : Window.TakeAsync(most);

        // TryWrite fails only once the run's finish completed the channel: the run has ended, nobody reads.
        internal override void Publish(in JobResult<TJob, TResult> result) => Results.Writer.TryWrite(result);

        protected override void MarkAllWritten() => Results.Writer.TryComplete();

        /// <summary>After the finish: first the published outcomes not yet read, then the jobs that never started.</summary>
        internal override long DrainOutcomes(Action<JobResult<TJob, TResult>>? sink)
        {
            Results.Writer.TryComplete();
            while (Results.Reader.TryRead(out JobResult<TJob, TResult> result))
            {
                if (!IsWakeMarker(result))
                {
                    sink?.Invoke(result);
                }
            }

            return base.DrainOutcomes(sink);
        }

        /// <summary>
        /// Once the run starts to stop: closes the window, which ends the producer's wait for a credit, and wakes a consumer
        /// waiting for an outcome by writing a marker that is not an outcome (index -1). The consumer never takes it for an
        /// outcome, since it stops reading once the run is stopping, and <see cref="DrainOutcomes"/> skips it.
        /// </summary>
        protected override void OnStopRequested(bool fromOutside)
        {
            Window.Close();
            Results.Writer.TryWrite(new JobResult<TJob, TResult>(-1, default!, JobStatus.Canceled, default, null, TimeSpan.Zero));
        }
    }
}
