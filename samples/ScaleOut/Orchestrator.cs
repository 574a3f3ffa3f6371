using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;
using WorkerPool.Redis;

namespace ScaleOut;

/// <summary>
/// Runs three phases on one Redis: the jobs with 1 worker process, with K processes, and with K processes of which one
/// is killed with SIGKILL part-way through. Then prints what each process did and what was duplicated or lost.
/// </summary>
internal static class Orchestrator
{
    public static async Task<int> RunAsync(ScaleOutOptions options)
    {
        RedisServerProcess? server = null;
        string endpoint;
        if (options.Redis is { } given)
        {
            endpoint = given;
        }
        else
        {
            string? executable = RedisServerProcess.FindExecutable();
            if (executable is null)
            {
                Console.Error.WriteLine("redis-server is not on PATH. Install it (Debian/Ubuntu: 'sudo apt-get install -y redis-server'; "
                    + "macOS: 'brew install redis'), or point the sample at a server with --redis host:port.");
                return 2;
            }

            server = RedisServerProcess.Start(executable);
            endpoint = server.Endpoint;
        }

        var total = Stopwatch.StartNew();
        try
        {
            using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync($"{endpoint},abortConnect=false");
            IDatabase db = redis.GetDatabase();
            string run = DateTime.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture);
            Console.WriteLine($"Redis {endpoint}; {options.Jobs:N0} jobs of 2-10 ms awaits; {options.MaxWorkers} workers and a queue of {options.MaxWorkers} per process.");

            PhaseResult one = await RunPhaseAsync(db, endpoint, options, $"scaleout:{run}:one", processes: 1, kill: false);
            PhaseResult many = await RunPhaseAsync(db, endpoint, options, $"scaleout:{run}:many", options.Processes, kill: false);
            PhaseResult killed = await RunPhaseAsync(db, endpoint, options, $"scaleout:{run}:kill", options.Processes, kill: true);

            Console.WriteLine();
            Report.Print(options, one, many, killed);
            Console.WriteLine($"Total time {total.Elapsed.TotalSeconds:0.0} s.");
            return one.Lost + many.Lost + killed.Lost == 0 ? 0 : 1;
        }
        finally
        {
            server?.Dispose();
        }
    }

    private static async Task<PhaseResult> RunPhaseAsync(IDatabase db, string endpoint, ScaleOutOptions options, string stream, int processes, bool kill)
    {
        var streamOptions = new RedisStreamOptions { StreamKey = stream, GroupName = Keys.Group };
        var random = new Random(42);
        await new RedisStreamPublisher<ScaleOutJob>(db, streamOptions)
            .PublishManyAsync(Enumerable.Range(0, options.Jobs).Select(n => new ScaleOutJob(n, random.Next(2, 11))));
        Console.Write($"{processes} process(es){(kill ? ", one killed" : "")}: ");

        var names = Enumerable.Range(1, processes).Select(i => $"p{i}").ToArray();
        var workers = names.Select(name => StartWorker(endpoint, options, stream, name)).ToList();
        string? victim = null;
        long victimPending = 0;
        var elapsed = new Stopwatch();
        try
        {
            // The clock starts at the first completed job, so that process start-up (the same in every phase) is left out.
            await WaitUntilAsync(async () => await DoneCountAsync(db, stream, names) > 0, TimeSpan.FromSeconds(30));
            elapsed.Start();
            if (kill)
            {
                // Part-way through: once about a third of the jobs are done, SIGKILL the last process.
                await WaitUntilAsync(async () => await DoneCountAsync(db, stream, names) >= options.Jobs / 3, TimeSpan.FromSeconds(60));
                victim = names[^1];
                workers[^1].Kill();
                await workers[^1].WaitForExitAsync();
                StreamPendingInfo pending = await db.StreamPendingAsync(stream, Keys.Group);
                victimPending = pending.Consumers?.FirstOrDefault(c => c.Name == victim).PendingMessageCount ?? 0;
                Console.Write($"killed {victim} (PID {workers[^1].Id}) holding {victimPending} unacknowledged; ");
            }

            await WaitUntilAsync(() => AllAcknowledgedAsync(db, stream), TimeSpan.FromSeconds(60));
            elapsed.Stop();
            Console.WriteLine($"all acknowledged in {elapsed.Elapsed.TotalSeconds:0.00} s");
        }
        finally
        {
            await StopAllAsync(workers);
        }

        var perProcess = new List<ProcessResult>();
        var seen = new HashSet<int>();
        int recorded = 0;
        foreach (string name in names)
        {
            RedisValue[] done = await db.ListRangeAsync(Keys.Done(stream, name));
            recorded += done.Length;
            foreach (RedisValue number in done)
            {
                seen.Add((int)number);
            }

            HashEntry[] stats = await db.HashGetAllAsync(Keys.Stats(stream, name));
            long reclaimed = stats.FirstOrDefault(e => e.Name == "reclaimed").Value.TryParse(out long r) ? r : 0;
            perProcess.Add(new ProcessResult(name, done.Length, reclaimed, name == victim));
        }

        long victimLeft = victim is null ? 0 : await PendingOfAsync(db, stream, victim);
        return new PhaseResult(processes, options.Jobs, elapsed.Elapsed, perProcess, victimPending, victimLeft,
            Duplicates: recorded - seen.Count, Lost: options.Jobs - seen.Count);
    }

    private static Process StartWorker(string endpoint, ScaleOutOptions options, string stream, string name)
    {
        // Under 'dotnet run' this is the app host; under 'dotnet ScaleOut.dll' it is dotnet itself.
        string host = Environment.ProcessPath!;
        var start = new ProcessStartInfo(host) { RedirectStandardInput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            start.ArgumentList.Add(typeof(Orchestrator).Assembly.Location);
        }

        foreach (string arg in new[] { "--worker", "--redis", endpoint, "--stream", stream, "--name", name, "--max-workers", options.MaxWorkers.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start)!;
    }

    private static async Task StopAllAsync(List<Process> workers)
    {
        foreach (Process worker in workers.Where(w => !w.HasExited))
        {
            worker.StandardInput.Close();
        }

        foreach (Process worker in workers)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await worker.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                worker.Kill();
                await worker.WaitForExitAsync();
            }

            worker.Dispose();
        }
    }

    private static async Task<long> DoneCountAsync(IDatabase db, string stream, string[] names)
    {
        long sum = 0;
        foreach (string name in names)
        {
            sum += await db.ListLengthAsync(Keys.Done(stream, name));
        }

        return sum;
    }

    private static async Task<bool> AllAcknowledgedAsync(IDatabase db, string stream)
    {
        StreamGroupInfo[] groups = await db.StreamGroupInfoAsync(stream);
        return groups.Any(g => g.Name == Keys.Group && g.PendingMessageCount == 0 && g.Lag == 0);
    }

    private static async Task<long> PendingOfAsync(IDatabase db, string stream, string consumer)
    {
        StreamPendingInfo pending = await db.StreamPendingAsync(stream, Keys.Group);
        return pending.Consumers?.FirstOrDefault(c => c.Name == consumer).PendingMessageCount ?? 0;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var waited = Stopwatch.StartNew();
        while (!await condition())
        {
            if (waited.Elapsed > timeout)
            {
                throw new TimeoutException($"gave up after {timeout.TotalSeconds:0} s");
            }

            await Task.Delay(20);
        }
    }
}
