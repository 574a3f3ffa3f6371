using System.Diagnostics;
using System.Runtime.CompilerServices;
using WorkerPool.Tests.Support;

namespace WorkerPool.Tests.SharedPool;

/// <summary>
/// Every job runs in the ExecutionContext captured by the call that submitted it: the <c>RunAsync</c> or
/// <c>SubmitAsync</c> call, or the first <c>MoveNextAsync</c> of a <c>StreamAsync</c> enumeration. The source is
/// enumerated in that same context. A worker carries no caller's context: not the context of the call that started
/// it, and not what a job set in it.
/// </summary>
public sealed class ExecutionContextTests : PoolTest
{
    private static readonly AsyncLocal<string?> Caller = new();

    /// <summary>What a job can see of its caller.</summary>
    public enum Ambient
    {
        /// <summary>An <see cref="AsyncLocal{T}"/> set by the caller.</summary>
        AsyncLocal,

        /// <summary><see cref="Activity.Current"/>, an activity the caller started.</summary>
        Activity,

        /// <summary>A per-request holder, shaped like ASP.NET Core's HttpContextAccessor.</summary>
        RequestContext,
    }

    public static TheoryData<Ambient, PoolCall> AmbientsAndCalls()
    {
        var data = new TheoryData<Ambient, PoolCall>();
        foreach (Ambient ambient in Enum.GetValues<Ambient>())
        {
            foreach (PoolCall call in Enum.GetValues<PoolCall>())
            {
                data.Add(ambient, call);
            }
        }

        return data;
    }

    public static TheoryData<PoolCall, int> CallsAndWorkerCounts()
    {
        var data = new TheoryData<PoolCall, int>();
        foreach (PoolCall call in Enum.GetValues<PoolCall>())
        {
            foreach (int maxWorkers in new[] { 1, 2, 4 })
            {
                data.Add(call, maxWorkers);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AmbientsAndCalls))]
    public async Task AnyCall_WorkerStartedByAnotherCaller_JobsSeeTheirOwnCallersContext(Ambient kind, PoolCall call)
    {
        using IAmbient ambient = CreateAmbient(kind);
        var blocker = new Blocker();
        await using var pool = new BoundedWorkerPool<Job, string?>(Work(ambient, blocker), new WorkerPoolOptions { MaxWorkers = 1 });

        // A's job keeps the only worker, which A's call started, busy while B's jobs queue behind it.
        Task<string?[]> a = AsCallerAsync(ambient, "A", () => CallAsync(pool, call, [new Job(0, Blocks: true)]));
        await blocker.Started.Task.WithinLimit();
        Task<string?[]> b = AsCallerAsync(ambient, "B", () => CallAsync(pool, call, Jobs(3)));
        await Bounded.UntilAsync(() => Submitted(pool) == 4, "B's three jobs wait behind A's");
        blocker.Release.TrySetResult();

        (await a.WithinLimit()).Should().Equal("A");
        (await b.WithinLimit()).Should().Equal(["B", "B", "B"], "each job runs in the context of the call that submitted it, whichever worker runs it");
    }

    [Theory]
    [MemberData(nameof(CallsAndWorkerCounts))]
    public async Task AnyCall_ManyConcurrentCallers_EveryJobSeesItsOwnCallersValue(PoolCall call, int maxWorkers)
    {
        const int Callers = 50;
        const int JobsPerCaller = 10;
        var open = TestExtensions.NewGate();
        using IAmbient ambient = CreateAmbient(Ambient.AsyncLocal);
        await using var pool = new BoundedWorkerPool<Job, string?>(
            async (job, _) =>
            {
                string? seen = Caller.Value;
                await open.Task;
                return seen;
            },
            new WorkerPoolOptions { MaxWorkers = maxWorkers });

        Task<string?[]>[] callers = Enumerable.Range(0, Callers)
            .Select(c => AsCallerAsync(ambient, $"caller {c}", () => CallAsync(pool, call, Jobs(JobsPerCaller))))
            .ToArray();
        await Bounded.UntilAsync(() => Submitted(pool) == Callers * JobsPerCaller, "every caller's jobs are in the pool");
        open.TrySetResult();
        string?[][] seen = await Task.WhenAll(callers).WithinLimit();

        int mismatches = Enumerable.Range(0, Callers).Sum(c => seen[c].Count(value => value != $"caller {c}"));
        mismatches.Should().Be(0, "every one of the {0} jobs must see its own caller's value", Callers * JobsPerCaller);
    }

    [Theory]
    [InlineData(PoolCall.RunAsync)]
    [InlineData(PoolCall.SubmitAsync)]
    public async Task AnyCall_CallerSuppressedFlow_JobsRunInTheDefaultContext(PoolCall call)
    {
        using IAmbient ambient = CreateAmbient(Ambient.AsyncLocal);
        var blocker = new Blocker();
        await using var pool = new BoundedWorkerPool<Job, string?>(Work(ambient, blocker), new WorkerPoolOptions { MaxWorkers = 1 });

        Task<string?[]> a = AsCallerAsync(ambient, "A", () => CallAsync(pool, call, [new Job(0, Blocks: true)]));
        await blocker.Started.Task.WithinLimit();
        Task<string?[]> suppressed = AsCallerAsync(ambient, "S", () =>
        {
            using (ExecutionContext.SuppressFlow())
            {
                return CallAsync(pool, call, Jobs(3));
            }
        });
        await Bounded.UntilAsync(() => Submitted(pool) == 4, "the suppressed caller's jobs wait behind A's");
        blocker.Release.TrySetResult();

        (await a.WithinLimit()).Should().Equal("A");
        (await suppressed.WithinLimit()).Should().Equal([null, null, null], "a caller that suppressed flow gets the default context, not another caller's");
    }

    [Theory]
    [InlineData(PoolCall.RunAsync)]
    [InlineData(PoolCall.SubmitAsync)]
    public async Task AnyCall_CallerChangesItsValueAfterTheCall_JobsSeeTheValueAtTheCall(PoolCall call)
    {
        using IAmbient ambient = CreateAmbient(Ambient.AsyncLocal);
        var blocker = new Blocker();
        await using var pool = new BoundedWorkerPool<Job, string?>(Work(ambient, blocker), new WorkerPoolOptions { MaxWorkers = 1 });

        Task<string?[]> a = AsCallerAsync(ambient, "A", () => CallAsync(pool, call, [new Job(0, Blocks: true)]));
        await blocker.Started.Task.WithinLimit();
        Task<string?[]> b = AsCallerAsync(ambient, "at the call", () =>
        {
            Task<string?[]> made = CallAsync(pool, call, Jobs(3));
            Caller.Value = "after the call";
            return made;
        });
        await Bounded.UntilAsync(() => Submitted(pool) == 4, "B's jobs wait behind A's");
        blocker.Release.TrySetResult();

        (await a.WithinLimit()).Should().Equal("A");
        (await b.WithinLimit()).Should().Equal("at the call", "at the call", "at the call");
    }

    [Fact]
    public async Task StreamAsync_CreatedInOneContextEnumeratedInAnother_JobsSeeTheContextOfTheFirstMoveNext()
    {
        await using var pool = new BoundedWorkerPool<Job, string?>((_, _) => ValueTask.FromResult(Caller.Value), new WorkerPoolOptions { MaxWorkers = 1 });

        IAsyncEnumerable<JobResult<Job, string?>> stream = Create();
        string?[] seen = await EnumerateAsync();

        seen.Should().Equal("enumerating", "enumerating", "enumerating");

        IAsyncEnumerable<JobResult<Job, string?>> Create()
        {
            Caller.Value = "creating";
            return pool.StreamAsync(Jobs(3));
        }

        async Task<string?[]> EnumerateAsync()
        {
            Caller.Value = "enumerating";
            var values = new string?[3];
            await foreach (JobResult<Job, string?> result in stream)
            {
                values[result.Index] = result.Value;
            }

            return values;
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunAsync_SourceOfEitherKind_IsEnumeratedInTheCallersContext(bool asyncSource)
    {
        await using var pool = new BoundedWorkerPool<Job, string?>((_, _) => ValueTask.FromResult(Caller.Value), new WorkerPoolOptions { MaxWorkers = 1 });
        var seenBySource = new List<string?>();

        IReadOnlyList<JobResult<Job, string?>> results = await AsCallerAsync(
            CreateAmbient(Ambient.AsyncLocal),
            "caller",
            () => asyncSource ? pool.RunAsync(RecordingAsync(seenBySource, 3)) : pool.RunAsync(Recording(seenBySource, 3))).WithinLimit();

        results.Select(r => r.Value).Should().Equal("caller", "caller", "caller");
        seenBySource.Should().HaveCount(4).And.OnlyContain(value => value == "caller", "every MoveNext runs in the caller's context");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StreamAsync_SourceOfEitherKind_IsEnumeratedInTheContextOfTheFirstMoveNext(bool asyncSource)
    {
        await using var pool = new BoundedWorkerPool<Job, string?>((_, _) => ValueTask.FromResult(Caller.Value), new WorkerPoolOptions { MaxWorkers = 1 });
        var seenBySource = new List<string?>();
        Caller.Value = "creating";
        IAsyncEnumerable<JobResult<Job, string?>> stream = asyncSource
            ? pool.StreamAsync(RecordingAsync(seenBySource, 3))
            : pool.StreamAsync(Recording(seenBySource, 3));

        string?[] seenByJobs = await AsCallerAsync(CreateAmbient(Ambient.AsyncLocal), "enumerating", async () =>
        {
            var values = new string?[3];
            await foreach (JobResult<Job, string?> result in stream)
            {
                values[result.Index] = result.Value;
            }

            return values;
        }).WithinLimit();

        seenByJobs.Should().Equal("enumerating", "enumerating", "enumerating");
        seenBySource.Should().HaveCount(4).And.OnlyContain(value => value == "enumerating");
    }

    [Fact]
    public async Task RunAsync_SyncJobSetsAnAsyncLocal_NeitherTheNextJobOnItsWorkerNorTheCallerSeesIt()
    {
        // Not async: the job's write lands in whatever context the worker runs it in.
        await using var pool = new BoundedWorkerPool<int, string?>(
            (job, _) =>
            {
                string? seen = Caller.Value;
                Caller.Value = $"set by job {job}";
                return ValueTask.FromResult(seen);
            },
            new WorkerPoolOptions { MaxWorkers = 1 });
        Caller.Value = "caller";

        IReadOnlyList<JobResult<int, string?>> first = await pool.RunAsync(Enumerable.Range(0, 3)).WithinLimit();
        IReadOnlyList<JobResult<int, string?>> second = await pool.RunAsync(Enumerable.Range(3, 2)).WithinLimit();

        first.Select(r => r.Value).Should().Equal(["caller", "caller", "caller"], "a job never sees what the job before it set");
        second.Select(r => r.Value).Should().Equal("caller", "caller");
        Caller.Value.Should().Be("caller");
    }

    [Fact]
    public async Task RunAsync_AsyncJobSetsAnAsyncLocal_NeitherTheNextJobOnItsWorkerNorTheCallerSeesIt()
    {
        await using var pool = new BoundedWorkerPool<int, string?>(
            async (job, _) =>
            {
                string? seen = Caller.Value;
                Caller.Value = $"set by job {job}";
                await Task.Yield();
                return seen;
            },
            new WorkerPoolOptions { MaxWorkers = 1 });
        Caller.Value = "caller";

        IReadOnlyList<JobResult<int, string?>> results = await pool.RunAsync(Enumerable.Range(0, 3)).WithinLimit();

        results.Select(r => r.Value).Should().Equal("caller", "caller", "caller");
        Caller.Value.Should().Be("caller");
    }

    private static int Submitted<TJob, TResult>(BoundedWorkerPool<TJob, TResult> pool)
        where TJob : notnull
    {
        WorkerPoolStatistics statistics = pool.GetStatistics();
        return statistics.QueuedJobs + statistics.RunningJobs;
    }

    private static Job[] Jobs(int count) => Enumerable.Range(0, count).Select(i => new Job(i, Blocks: false)).ToArray();

    private static Func<Job, CancellationToken, ValueTask<string?>> Work(IAmbient ambient, Blocker blocker) => (job, _) =>
    {
        string? seen = ambient.Read();
        return job.Blocks ? blocker.HoldAsync(seen) : ValueTask.FromResult(seen);
    };

    /// <summary>Runs <paramref name="call"/> as a caller whose context carries <paramref name="name"/>, and ends that "request" afterwards.</summary>
    private static async Task<T> AsCallerAsync<T>(IAmbient ambient, string name, Func<Task<T>> call)
    {
        using (ambient.Enter(name))
        {
            return await call();
        }
    }

    /// <summary>Hands <paramref name="jobs"/> to the pool the way <paramref name="call"/> says, and returns what each job saw, in input order.</summary>
    private static Task<string?[]> CallAsync(BoundedWorkerPool<Job, string?> pool, PoolCall call, Job[] jobs)
    {
        switch (call)
        {
            case PoolCall.RunAsync:
                return FromRunAsync(pool.RunAsync(jobs));
            case PoolCall.StreamAsync:
                return FromStreamAsync(pool.StreamAsync(jobs), jobs.Length);
            default:
                Task<string?>[] submitted = jobs.Select(job => pool.SubmitAsync(job).AsTask()).ToArray();
                return Task.WhenAll(submitted);
        }

        static async Task<string?[]> FromRunAsync(Task<IReadOnlyList<JobResult<Job, string?>>> run) =>
            (await run).Select(Describe).ToArray();

        static async Task<string?[]> FromStreamAsync(IAsyncEnumerable<JobResult<Job, string?>> stream, int count)
        {
            var seen = new string?[count];
            await foreach (JobResult<Job, string?> result in stream)
            {
                seen[result.Index] = Describe(result);
            }

            return seen;
        }

        static string? Describe(JobResult<Job, string?> result) => result.IsSuccess ? result.Value : $"<{result.Status}>";
    }

    private static IEnumerable<Job> Recording(List<string?> seen, int count)
    {
        for (int i = 0; i < count; i++)
        {
            seen.Add(Caller.Value);
            yield return new Job(i, Blocks: false);
        }

        seen.Add(Caller.Value);
    }

    private static async IAsyncEnumerable<Job> RecordingAsync(List<string?> seen, int count, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (int i = 0; i < count; i++)
        {
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            seen.Add(Caller.Value);
            yield return new Job(i, Blocks: false);
        }

        seen.Add(Caller.Value);
    }

    private static IAmbient CreateAmbient(Ambient kind) => kind switch
    {
        Ambient.AsyncLocal => new AsyncLocalAmbient(),
        Ambient.Activity => new ActivityAmbient(),
        _ => new RequestAmbient(),
    };

    internal sealed record Job(int Index, bool Blocks);

    /// <summary>A job that keeps its worker busy until the test releases it.</summary>
    private sealed class Blocker
    {
        public TaskCompletionSource Started { get; } = TestExtensions.NewGate();

        public TaskCompletionSource Release { get; } = TestExtensions.NewGate();

        public async ValueTask<string?> HoldAsync(string? seen)
        {
            Started.TrySetResult();
            await Release.Task;
            return seen;
        }
    }

    private interface IAmbient : IDisposable
    {
        /// <summary>Makes <paramref name="name"/> the caller's value in the current context; disposing the result ends it.</summary>
        IDisposable Enter(string name);

        string? Read();
    }

    private sealed class AsyncLocalAmbient : IAmbient
    {
        public IDisposable Enter(string name)
        {
            Caller.Value = name;
            return new Exit(() => Caller.Value = null);
        }

        public string? Read() => Caller.Value;

        public void Dispose()
        {
        }
    }

    /// <summary>Each caller starts its own activity; a job reports the operation name of <see cref="Activity.Current"/>.</summary>
    private sealed class ActivityAmbient : IAmbient
    {
        private readonly ActivitySource _source = new("WorkerPool.Tests.ExecutionContext");
        private readonly ActivityListener _listener;

        public ActivityAmbient()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => ReferenceEquals(source, _source),
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public IDisposable Enter(string name)
        {
            Activity? activity = _source.StartActivity(name);
            activity.Should().NotBeNull("the listener samples every activity of the source");
            return activity!;
        }

        public string? Read() => Activity.Current?.OperationName;

        public void Dispose()
        {
            _listener.Dispose();
            _source.Dispose();
        }
    }

    /// <summary>
    /// A per-request holder in the shape of ASP.NET Core's HttpContextAccessor: each request stores a fresh holder in a
    /// static AsyncLocal, and clears the holder (not the AsyncLocal) when it ends, so that every context still pointing
    /// at it sees no request.
    /// </summary>
    private sealed class RequestAmbient : IAmbient
    {
        private readonly RequestContextAccessor _accessor = new();

        public IDisposable Enter(string name)
        {
            _accessor.Context = new RequestContext(name);
            return new Exit(() => _accessor.Context = null);
        }

        public string? Read() => _accessor.Context?.Name;

        public void Dispose()
        {
        }
    }

    private sealed record RequestContext(string Name);

    // An instance service over a static AsyncLocal, as HttpContextAccessor is.
#pragma warning disable CA1822
    private sealed class RequestContextAccessor
    {
        private static readonly AsyncLocal<Holder> Current = new();

        public RequestContext? Context
        {
            get => Current.Value?.Context;
            set
            {
                if (Current.Value is { } holder)
                {
                    holder.Context = null;
                }

                if (value is not null)
                {
                    Current.Value = new Holder { Context = value };
                }
            }
        }

        private sealed class Holder
        {
            public RequestContext? Context { get; set; }
        }
    }
#pragma warning restore CA1822

    private sealed class Exit(Action exit) : IDisposable
    {
        public void Dispose() => exit();
    }
}
