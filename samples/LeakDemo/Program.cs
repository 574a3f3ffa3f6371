// Replays a production incident and its fix, live, in one process: a minimal API on Kestrel (loopback, free port) with
// /leaky, the naive fan-out whose senders block forever after an early return, and /pooled, the same fan-out through one
// BoundedWorkerPool. Load is driven against each in turn, the process is sampled, and the before/after table is printed.
//
//   dotnet run -c Release --project samples/LeakDemo -- [--requests N] [--concurrency N] [--csv PATH]
using LeakDemo;

CommandLineArguments arguments;
try
{
    arguments = CommandLine.Parse(args);
}
catch (CommandLineException invalid)
{
    Console.Error.WriteLine($"LeakDemo: {invalid.Message}");
    Console.Error.WriteLine();
    Console.Error.WriteLine(CommandLine.Usage);
    return 2;
}

if (arguments.ShowHelp)
{
    Console.WriteLine(CommandLine.Usage);
    return 0;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

LeakDemoResult result;
try
{
    result = await LeakDemoRunner.RunAsync(arguments.Options, Console.Out, stop.Token);
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Console.Error.WriteLine("LeakDemo: stopped.");
    return 130;
}

Console.Write(LeakDemoReport.Format(result));

if (arguments.CsvPath is { } csvPath)
{
    using (var csv = new StreamWriter(csvPath))
    {
        TimeSeriesCsv.Write(csv, result);
    }

    Console.WriteLine($"Time series written to {csvPath}");
}

return 0;
