using ScaleOut;

// dotnet run -c Release --project samples/ScaleOut [-- --jobs N --processes K --max-workers W --redis host:port]
// The same executable is the orchestrator (default) and each worker process (--worker).
try
{
    var options = ScaleOutOptions.Parse(args);
    return options.WorkerMode
        ? await WorkerProcess.RunAsync(options)
        : await Orchestrator.RunAsync(options);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine("usage: ScaleOut [--jobs N] [--processes K] [--max-workers W] [--redis host:port]");
    return 2;
}
