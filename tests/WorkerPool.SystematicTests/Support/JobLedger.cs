using Microsoft.Coyote.Specifications;

namespace WorkerPool.SystematicTests.Support;

/// <summary>
/// Where a test writes down what happened to each job: admitted to the queue (its write returned true), refused (false),
/// taken by a worker, removed by its owner's finish. At the end, every admitted job must be taken or removed, exactly
/// once, and no refused job either.
/// </summary>
internal sealed class JobLedger
{
    private readonly object _sync = new();
    private readonly List<int> _admitted = [];
    private readonly List<int> _refused = [];
    private readonly List<int> _taken = [];

    public IReadOnlyList<int> TakenInOrder
    {
        get
        {
            lock (_sync)
            {
                return [.. _taken];
            }
        }
    }

    public void Admitted(int job) => Add(_admitted, job);

    /// <summary>Whether <paramref name="job"/> was admitted to the queue.</summary>
    public bool WasAdmitted(int job)
    {
        lock (_sync)
        {
            return _admitted.Contains(job);
        }
    }

    public void Refused(int job) => Add(_refused, job);

    public void Taken(int job) => Add(_taken, job);

    /// <summary>Checks that every admitted job was taken or removed exactly once, and nothing else was.</summary>
    public void AssertEachAdmittedJobTakenOrRemovedOnce(params ClaimingOwner[] owners)
    {
        lock (_sync)
        {
            List<int> ended = [.. _taken, .. owners.SelectMany(owner => owner.Removed)];
            ended.Sort();
            List<int> admitted = [.. _admitted];
            admitted.Sort();
            Specification.Assert(
                ended.SequenceEqual(admitted),
                $"Admitted [{string.Join(", ", admitted)}] but taken or removed [{string.Join(", ", ended)}].");
            Specification.Assert(
                !_refused.Intersect(ended).Any(),
                $"A refused job reached the queue: refused [{string.Join(", ", _refused)}], taken or removed [{string.Join(", ", ended)}].");
        }
    }

    private void Add(List<int> list, int job)
    {
        lock (_sync)
        {
            list.Add(job);
        }
    }
}
