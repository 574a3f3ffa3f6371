using System.Diagnostics;

namespace WorkerPool;

/// <summary>
/// Puts StreamAsync outcomes back into input order. Outcomes waiting here are at most the window's credits (jobs
/// pulled and not yet yielded), so the ring never needs more slots than that; it starts small and doubles when an
/// outcome lands beyond it.
/// </summary>
internal sealed class ReorderBuffer<TJob, TResult>
{
    private JobResult<TJob, TResult>[] _ring = new JobResult<TJob, TResult>[16];
    private bool[] _present = new bool[16];
    private long _next;

    internal void Add(JobResult<TJob, TResult> result)
    {
        Debug.Assert(result.Index >= _next, "An outcome arrived for a job already yielded.");
        // Stryker disable once Arithmetic : growing when the ring is not full only costs memory; it grows whenever it is
        if (result.Index - _next >= _ring.Length)
        {
            // Stryker disable once Arithmetic : asking for a larger ring than needed only costs memory
            Grow(result.Index - _next + 1);
        }

        int slot = (int)(result.Index % _ring.Length);
        Debug.Assert(!_present[slot], "Two outcomes share a reorder slot.");
        _ring[slot] = result;
        _present[slot] = true;
    }

    private void Grow(long needed)
    {
        long size = _ring.Length;
        // Stryker disable once Equality : one more doubling only costs memory
        while (size < needed)
        {
            size *= 2;
        }

        // Stryker disable once Checked : overflows only past 2^31 outcomes held out of order, more memory than a test can have
        var ring = new JobResult<TJob, TResult>[checked((int)size)];
        var present = new bool[ring.Length];
        for (int i = 0; i < _ring.Length; i++)
        {
            if (_present[i])
            {
                int slot = (int)(_ring[i].Index % ring.Length);
                ring[slot] = _ring[i];
                present[slot] = true;
            }
        }

        _ring = ring;
        _present = present;
    }

    internal bool TryTakeNext(out JobResult<TJob, TResult> result)
    {
        int slot = (int)(_next % _ring.Length);
        if (!_present[slot])
        {
            result = default;
            return false;
        }

        result = _ring[slot];
        _ring[slot] = default;
        _present[slot] = false;
        _next++;
        return true;
    }

    internal void DrainTo(List<JobResult<TJob, TResult>> target)
    {
        for (int i = 0; i < _ring.Length; i++)
        {
            if (_present[i])
            {
                target.Add(_ring[i]);
                _ring[i] = default;
                _present[i] = false;
            }
        }
    }
}
