using System.Diagnostics;
using System.Globalization;
using WorkerPool.Tests.LeakProof;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace WorkerPool.Tests;

/// <summary>
/// Random interleavings of the queue's operations, each built from an explicit seed and driven from one thread, checked
/// step by step against a model of the queue: TryWrite, WriteAsync (without a token, with a token that may be cancelled
/// at any step, or with one cancelled already), TryTake, closing an owner, and RemoveAll.
/// </summary>
/// <remarks>
/// <para>
/// After every step the queue must agree with the model: which jobs each TryTake and RemoveAll hands out, in which
/// order, which waits have ended and how, the owners entered and exited, and the counts. So waiting writers enter the
/// queue in the order they began to wait, skipping those cancelled or sent away with a closed owner; the queue never
/// holds more than its capacity; the line is admitted, up to the capacity, whenever room is freed while two or more
/// writers wait, and otherwise once the jobs waiting fall to the low-water mark (capacity minus 16, or minus half of it
/// if that is less, and at least one below it), so nobody waits in line below that mark; and, once every owner is closed
/// and removed, every job has ended in exactly one place: taken, removed, or refused back to its writer.
/// </para>
/// <para>
/// Everything that changes the queue happens on the driving thread. A wait without a token completes as the step that
/// decides it returns; a wait with a token completes through an async method whose continuation runs on the thread pool,
/// so it is awaited, with a hang limit. A decided wait is sometimes left unread for a few steps, and its token may be
/// cancelled meanwhile: that must change nothing.
/// </para>
/// <para>
/// <c>WORKERPOOL_STRESS_ITERATIONS</c> and <c>WORKERPOOL_STRESS_SEED</c> work as for <see cref="RandomizedStressTests"/>.
/// </para>
/// </remarks>
[Trait("Category", "Slow")]
public sealed class JobQueueStressTests(ITestOutputHelper output)
{
    private const int DefaultIterations = 1_000;
    private const int DefaultFirstSeed = 40_000;
    private const int StepsPerScenario = 250;
    private const int TraceLength = 40;

    /// <summary>A hang detector for a wait whose completion runs on the thread pool, not a synchroniser.</summary>
    private static readonly TimeSpan CompletionLimit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task JobQueue_RandomInterleavings_AdmitsWaitersInArrivalOrderAndEndsEveryJobInOnePlace()
    {
        int iterations = ReadVariable(RandomizedStressTests.IterationsVariable) ?? DefaultIterations;
        int firstSeed = ReadVariable(RandomizedStressTests.SeedVariable) ?? DefaultFirstSeed;
        var stats = new Stats();
        var clock = Stopwatch.StartNew();

        for (int i = 0; i < iterations; i++)
        {
            int seed = firstSeed + i;
            var scenario = new QueueScenario(seed, stats);
            try
            {
                await scenario.RunAsync();
            }
            catch (Exception exception)
            {
                throw new XunitException(
                    $"JobQueue scenario with seed {seed} failed; run it alone with {RandomizedStressTests.SeedVariable}={seed} " +
                    $"{RandomizedStressTests.IterationsVariable}=1.{Environment.NewLine}{scenario}{Environment.NewLine}{exception}");
            }
        }

        clock.Stop();
        output.WriteLine($"{iterations} scenarios (seeds {firstSeed}..{firstSeed + iterations - 1}) in {clock.Elapsed.TotalSeconds:0.0} s.");
        output.WriteLine(stats.ToString());
        stats.WaitsAdmitted.Should().BePositive("some writers must have waited in line and been admitted");
        stats.WaitsCanceled.Should().BePositive("some waiting writers must have been cancelled");
        stats.WaitsSentAway.Should().BePositive("some waiting writers must have been sent away with a closed owner");
    }

    private static int? ReadVariable(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : null;

    private enum Step
    {
        TryWrite,
        WriteAsync,
        TryTake,
        Cancel,
        Close,
        RemoveAll,
    }

    /// <summary>A run, as the queue sees it; it counts its entries and exits.</summary>
    private sealed class Owner(int id) : IJobQueueOwner
    {
        public int Entered { get; private set; }

        public int Exited { get; private set; }

        /// <summary>The entries the model expects the queue to have made.</summary>
        public int ExpectedEntered { get; set; }

        public bool IsClosed { get; private set; }

        public bool TryEnter()
        {
            Entered++;
            return !IsClosed;
        }

        public void Exit() => Exited++;

        public void Close() => IsClosed = true;

        public override string ToString() => $"owner {id}";
    }

    /// <summary>A writer with its own reusable waiter, and at most one write outstanding.</summary>
    private sealed class Producer(int id)
    {
        public JobQueue<Owner, int>.Waiter Waiter { get; } = new();

        public bool HasPending { get; set; }

        public ValueTask<bool> Pending { get; set; }

        public CancellationTokenSource? Cancel { get; set; }

        public Owner? Owner { get; set; }

        /// <summary>The jobs of the write outstanding: one, or several written together (WriteAllAsync).</summary>
        public int[] Items { get; set; } = [];

        public string ItemsText => string.Join("+", Items);

        /// <summary>When the write began to wait: its place in line, by arrival.</summary>
        public int Ticket { get; set; }

        /// <summary>The model's node for this writer while it waits in line.</summary>
        public LinkedListNode<Producer>? InLine { get; set; }

        /// <summary>Once the model has decided the wait: whether the job went in.</summary>
        public bool? Decided { get; set; }

        public override string ToString() => $"producer {id}";
    }

    private sealed class Stats
    {
        public long Steps { get; set; }

        public long Taken { get; set; }

        public long Removed { get; set; }

        public long Refused { get; set; }

        public long WaitsStarted { get; set; }

        public long WaitsAdmitted { get; set; }

        public long WaitsCanceled { get; set; }

        public long WaitsSentAway { get; set; }

        public long SetAside { get; set; }

        public override string ToString() =>
            $"{Steps} steps: jobs taken {Taken}, removed {Removed}, refused {Refused}, set aside {SetAside}; " +
            $"waits started {WaitsStarted}, admitted {WaitsAdmitted}, cancelled {WaitsCanceled}, sent away with a closed owner {WaitsSentAway}.";
    }

    /// <summary>One scenario: a queue, the model it is checked against, and a trace of the last steps for the failure message.</summary>
    private sealed class QueueScenario
    {
        private readonly int _seed;
        private readonly Stats _stats;
        private readonly Random _random;
        private readonly int _capacity;
        private readonly int _maxOwners;
        private readonly int[] _weights;
        private readonly JobQueue<Owner, int> _queue;
        private readonly List<Owner> _owners = [];
        private readonly Producer[] _producers;

        // The model: the queue's ring, the closed owners' jobs set aside, and the admission line.
        private readonly List<(Owner Owner, int Item)> _ring = [];
        private readonly List<(Owner Owner, int Item)> _setAside = [];
        private readonly LinkedList<Producer> _line = new();

        // Where each job ended, and the arrival ticket of each job that went in after waiting.
        private readonly Dictionary<int, string> _fates = [];
        private readonly Dictionary<int, int> _ticketOf = [];
        private readonly Queue<string> _trace = new();
        private int _ownersMade;
        private int _nextItem;
        private int _nextTicket;
        private int _lastTakenTicket = -1;

        public QueueScenario(int seed, Stats stats)
        {
            _seed = seed;
            _stats = stats;
            _random = new Random(seed);
            _capacity = _random.Next(1, 7);
            _maxOwners = _random.Next(1, 7);
            _producers = Enumerable.Range(0, _random.Next(1, 9)).Select(id => new Producer(id)).ToArray();

            // Per-scenario weights, so that some scenarios keep the queue full and the line long, and others drain it.
            _weights =
            [
                _random.Next(0, 10), // TryWrite
                _random.Next(10, 40), // WriteAsync
                _random.Next(5, 40), // TryTake
                _random.Next(0, 15), // Cancel
                _random.Next(0, 5), // Close
                _random.Next(0, 8), // RemoveAll
            ];
            _queue = new JobQueue<Owner, int>(_capacity);
            for (int i = 0; i < Math.Min(3, _maxOwners); i++)
            {
                NewOwner();
            }
        }

        private int Waiting => _ring.Count + _setAside.Count;

        public async Task RunAsync()
        {
            for (int step = 0; step < StepsPerScenario; step++)
            {
                switch (PickStep())
                {
                    case Step.TryWrite:
                        TryWrite(PickOwner());
                        break;
                    case Step.WriteAsync:
                        if (_producers.Where(p => !p.HasPending).ToArray() is { Length: > 0 } idle)
                        {
                            WriteAsync(idle[_random.Next(idle.Length)], PickOwner());
                        }

                        break;
                    case Step.TryTake:
                        TryTake();
                        break;
                    case Step.Cancel:
                        if (_producers.Where(p => p.Cancel is { IsCancellationRequested: false }).ToArray() is { Length: > 0 } cancellable)
                        {
                            Cancel(cancellable[_random.Next(cancellable.Length)]);
                        }

                        break;
                    case Step.Close:
                        if (_owners.Where(o => !o.IsClosed).ToArray() is { Length: > 0 } open)
                        {
                            Owner owner = open[_random.Next(open.Length)];
                            owner.Close();
                            Trace($"close {owner}");
                        }

                        break;
                    case Step.RemoveAll:
                        if (_owners.Where(o => o.IsClosed).ToArray() is { Length: > 0 } closed)
                        {
                            RemoveAll(closed[_random.Next(closed.Length)]);
                        }

                        break;
                }

                await CollectAsync(all: false);
                CheckAgainstModel();
                _stats.Steps++;
            }

            // The end of every owner: close it and take its jobs. Nothing may be left anywhere.
            foreach (Owner owner in _owners.ToArray())
            {
                owner.Close();
                RemoveAll(owner);
            }

            await CollectAsync(all: true);
            CheckAgainstModel();
            Expect(!_queue.TryTake(null, out _, out _), "the queue is empty once every owner is removed");
            Expect(_queue.Waiting == 0 && _queue.WaitingForRoom == 0, $"nothing waits at the end, but {_queue.Waiting} job(s) and {_queue.WaitingForRoom} writer(s) do");
            Expect(_producers.All(p => !p.HasPending), "every write has ended");
            int unaccounted = Enumerable.Range(0, _nextItem).Count(item => !_fates.ContainsKey(item));
            Expect(unaccounted == 0, $"every job ends in exactly one place, but {unaccounted} of {_nextItem} ended nowhere");
        }

        private Step PickStep()
        {
            int roll = _random.Next(_weights.Sum() + 1);
            for (int i = 0; i < _weights.Length; i++)
            {
                roll -= _weights[i];
                if (roll < 0)
                {
                    return (Step)i;
                }
            }

            return Step.TryTake;
        }

        /// <summary>An owner to write for: now and then a closed one; a new one while fewer than two are open and there is room for one.</summary>
        private Owner PickOwner()
        {
            if (_owners.Count == 0 || (_owners.Count < _maxOwners && _owners.Count(o => !o.IsClosed) < 2))
            {
                NewOwner();
            }

            return _owners[_random.Next(_owners.Count)];
        }

        private void NewOwner() => _owners.Add(new Owner(_ownersMade++));

        private void TryWrite(Owner owner)
        {
            int item = _nextItem++;
            bool expected = _line.Count == 0 && Waiting < _capacity && !owner.IsClosed;
            bool written = _queue.TryWrite(owner, item);
            Trace($"TryWrite({owner}, {item}) -> {written}");
            Expect(written == expected, $"TryWrite must return {expected}: {_line.Count} writer(s) in line, {Waiting} of {_capacity} waiting, {owner} closed: {owner.IsClosed}");
            if (written)
            {
                _ring.Add((owner, item));
            }
            else
            {
                Fate(item, "refused by TryWrite");
            }
        }

        private void WriteAsync(Producer producer, Owner owner)
        {
            // Now and then several jobs that wait in line together, as many as the queue lets one waiter hold.
            int count = _queue.MaxWaitingBatch > 1 && _random.Next(3) == 0 ? _random.Next(2, _queue.MaxWaitingBatch + 1) : 1;
            int[] items = [.. Enumerable.Range(_nextItem, count)];
            _nextItem += count;
            string itemsText = string.Join("+", items);
            double kind = _random.NextDouble();
            CancellationTokenSource? cancel = kind < 0.45 ? null : new CancellationTokenSource();
            if (kind > 0.95)
            {
                cancel!.Cancel();
            }

            CancellationToken token = cancel?.Token ?? CancellationToken.None;
            bool? immediate = token.IsCancellationRequested || owner.IsClosed ? false
                : _line.Count == 0 && Waiting + count <= _capacity ? true
                : null;
            // Several jobs are passed from the second place of an array, so that the offset is honoured too.
            ValueTask<bool> write = count == 1
                ? _queue.WriteAsync(owner, items[0], producer.Waiter, token)
                : _queue.WriteAllAsync(owner, [-1, .. items], 1, count, producer.Waiter, token);
            Trace($"WriteAsync({owner}, {itemsText}) by {producer}, token {(cancel is null ? "none" : token.IsCancellationRequested ? "cancelled" : "cancellable")} -> {(write.IsCompleted ? "completed" : "waits")}");
            if (immediate is bool done)
            {
                Expect(write.IsCompleted, $"a write that can be decided at once completes at once, with {done}");
                bool result = write.Result;
                Expect(result == done, $"the write must complete with {done}");
                cancel?.Dispose();
                foreach (int item in items)
                {
                    if (done)
                    {
                        _ring.Add((owner, item));
                    }
                    else
                    {
                        Fate(item, "refused by WriteAsync");
                    }
                }

                return;
            }

            Expect(!write.IsCompleted, $"with {Waiting} of {_capacity} waiting and {_line.Count} writer(s) in line, the write must wait");
            producer.HasPending = true;
            producer.Pending = write;
            producer.Cancel = cancel;
            producer.Owner = owner;
            producer.Items = items;
            producer.Ticket = _nextTicket++;
            producer.Decided = null;
            producer.InLine = _line.AddLast(producer);
            _stats.WaitsStarted++;
        }

        private void TryTake()
        {
            // The model first.
            Owner? expectedOwner = null;
            int expectedItem = -1;
            while (_ring.Count > 0)
            {
                Owner head = _ring[0].Owner;
                head.ExpectedEntered++;
                if (head.IsClosed)
                {
                    while (_ring.Count > 0 && ReferenceEquals(_ring[0].Owner, head))
                    {
                        _setAside.Add(_ring[0]);
                        _ring.RemoveAt(0);
                        _stats.SetAside++;
                    }

                    continue;
                }

                expectedOwner = head;
                expectedItem = _ring[0].Item;
                _ring.RemoveAt(0);
                Admit();
                break;
            }

            bool taken = _queue.TryTake(null, out Owner? owner, out int item);
            Trace($"TryTake -> {(taken ? $"{item} of {owner}" : "nothing")}");
            Expect(taken == expectedOwner is not null, $"TryTake must {(expectedOwner is null ? "find nothing" : $"take {expectedItem} of {expectedOwner}")}");
            if (!taken)
            {
                return;
            }

            Expect(ReferenceEquals(owner, expectedOwner) && item == expectedItem, $"TryTake must take {expectedItem} of {expectedOwner}, the head of the queue");
            owner!.Exit();
            Fate(item, "taken");
            _stats.Taken++;
            if (_ticketOf.TryGetValue(item, out int ticket))
            {
                // Jobs that waited together share a ticket.
                Expect(ticket >= _lastTakenTicket, $"job {item} began to wait (ticket {ticket}) before a job taken already (ticket {_lastTakenTicket})");
                _lastTakenTicket = ticket;
            }
        }

        private void Cancel(Producer producer)
        {
            if (producer.InLine is { } node)
            {
                _line.Remove(node);
                producer.InLine = null;
                producer.Decided = false;
                _stats.WaitsCanceled++;

                // The writer behind it may need less room than it did.
                Admit();
            }

            Trace($"cancel the write of {producer.ItemsText} by {producer} ({(producer.Decided is null ? "waiting" : "decided")})");
            producer.Cancel!.Cancel();
        }

        private void RemoveAll(Owner owner)
        {
            var expected = _setAside.Where(e => ReferenceEquals(e.Owner, owner)).Concat(_ring.Where(e => ReferenceEquals(e.Owner, owner))).Select(e => e.Item).ToList();
            _setAside.RemoveAll(e => ReferenceEquals(e.Owner, owner));
            _ring.RemoveAll(e => ReferenceEquals(e.Owner, owner));
            for (LinkedListNode<Producer>? node = _line.First; node is not null;)
            {
                LinkedListNode<Producer>? next = node.Next;
                if (ReferenceEquals(node.Value.Owner, owner))
                {
                    _line.Remove(node);
                    node.Value.InLine = null;
                    node.Value.Decided = false;
                    _stats.WaitsSentAway++;
                }

                node = next;
            }

            Admit();

            List<int> removed = _queue.RemoveAll(owner) ?? [];
            Trace($"RemoveAll({owner}) -> [{string.Join(", ", removed)}]");
            Expect(removed.SequenceEqual(expected), $"RemoveAll must hand back [{string.Join(", ", expected)}], set aside first, then in queue order");
            foreach (int item in removed)
            {
                Fate(item, "removed");
                _stats.Removed++;
            }

            _owners.Remove(owner);
        }

        /// <summary>The queue's low-water mark: at or below it, a line of one is admitted.</summary>
        private int LowWater => _capacity - Math.Max(1, _capacity / 2);

        /// <summary>
        /// The model's hand-over: room goes to the writers in line, first come first. A closed owner's writer at the head
        /// is sent away whatever the room; the first other writer is admitted once there is room for all its jobs, and
        /// nobody behind it goes first.
        /// </summary>
        private void Admit()
        {
            // A line of two or more is admitted whenever room is freed; a line of one at the low-water mark.
            bool admitting = Waiting <= LowWater || _line.Count >= 2;
            while (_line.First is { } node)
            {
                Producer producer = node.Value;
                if (producer.Owner!.IsClosed)
                {
                    _line.RemoveFirst();
                    producer.InLine = null;
                    producer.Decided = false;
                    _stats.WaitsSentAway++;
                    continue;
                }

                if (!admitting || Waiting + producer.Items.Length > _capacity)
                {
                    return;
                }

                _line.RemoveFirst();
                producer.InLine = null;
                foreach (int item in producer.Items)
                {
                    _ring.Add((producer.Owner, item));
                    _ticketOf[item] = producer.Ticket;
                }

                producer.Decided = true;
                _stats.WaitsAdmitted++;
            }
        }

        /// <summary>
        /// Reads the waits the model has decided (some left for later, unless <paramref name="all"/>), and checks that the
        /// waits it has not decided have not ended.
        /// </summary>
        private async Task CollectAsync(bool all)
        {
            foreach (Producer producer in _producers)
            {
                if (!producer.HasPending)
                {
                    continue;
                }

                if (producer.Decided is not bool decided)
                {
                    Expect(!producer.Pending.IsCompleted, $"the write of {producer.ItemsText} by {producer} waits in line, so it has not ended");
                    continue;
                }

                if (!all && _random.Next(3) == 0)
                {
                    continue;
                }

                bool result;
                if (producer.Cancel is null)
                {
                    Expect(producer.Pending.IsCompleted, $"the write of {producer.ItemsText} by {producer}, without a token, ends as the step that decides it returns");
                    result = producer.Pending.Result;
                }
                else
                {
                    result = await producer.Pending.AsTask().WaitAsync(CompletionLimit);
                    producer.Cancel.Dispose();
                }

                Trace($"the write of {producer.ItemsText} by {producer} ended with {result}");
                Expect(result == decided, $"the write of {producer.ItemsText} by {producer} must end with {decided}");
                if (!result)
                {
                    foreach (int item in producer.Items)
                    {
                        Fate(item, "sent back to its writer");
                    }
                }

                producer.HasPending = false;
                producer.Pending = default;
                producer.Cancel = null;
                producer.Decided = null;
            }
        }

        private void CheckAgainstModel()
        {
            Expect(_queue.Waiting == Waiting, $"the queue must count {Waiting} job(s) waiting, but counts {_queue.Waiting}");
            Expect(_queue.WaitingForRoom == _line.Count, $"the queue must count {_line.Count} writer(s) in line, but counts {_queue.WaitingForRoom}");
            Expect(_queue.HasQueued == _ring.Count > 0, $"the queue must {(_ring.Count > 0 ? string.Empty : "not ")}report a queued job");
            Expect(_queue.Waiting <= _capacity, $"the queue holds {_queue.Waiting} job(s), over its capacity of {_capacity}");
            Expect(_queue.WaitingForRoom == 0 || _queue.Waiting > LowWater, $"{_queue.WaitingForRoom} writer(s) wait while the queue holds only {_queue.Waiting} of {_capacity}");
            foreach (Owner owner in _owners)
            {
                Expect(owner.Entered == owner.ExpectedEntered, $"{owner} must have been entered {owner.ExpectedEntered} time(s), but was entered {owner.Entered} time(s)");
                Expect(owner.Exited == owner.Entered, $"{owner} was entered {owner.Entered} time(s) but exited {owner.Exited} time(s)");
            }
        }

        private void Fate(int item, string fate)
        {
            Expect(_fates.TryAdd(item, fate), $"job {item} ended twice: {(_fates.TryGetValue(item, out string? first) ? first : "?")}, then {fate}");
            if (fate.StartsWith("refused", StringComparison.Ordinal) || fate.StartsWith("sent", StringComparison.Ordinal))
            {
                _stats.Refused++;
            }
        }

        private void Trace(string what)
        {
            if (_trace.Count == TraceLength)
            {
                _trace.Dequeue();
            }

            _trace.Enqueue(what);
        }

        private static void Expect(bool condition, string because)
        {
            if (!condition)
            {
                throw new XunitException(because);
            }
        }

        public override string ToString() =>
            $"seed {_seed}: capacity {_capacity}, {_producers.Length} producer(s), at most {_maxOwners} owner(s) at once, " +
            $"weights TryWrite/WriteAsync/TryTake/Cancel/Close/RemoveAll = {string.Join('/', _weights)}. Last steps:{Environment.NewLine}  " +
            string.Join($"{Environment.NewLine}  ", _trace);
    }
}
