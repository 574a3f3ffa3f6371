using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ScaleOut;

/// <summary>A redis-server this sample starts on a free loopback port, without persistence, and stops by its PID.</summary>
internal sealed class RedisServerProcess : IDisposable
{
    private readonly int _pid;
    private readonly string _directory;

    private RedisServerProcess(string endpoint, int pid, string directory)
    {
        Endpoint = endpoint;
        _pid = pid;
        _directory = directory;
    }

    public string Endpoint { get; }

    public static string? FindExecutable() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "redis-server"))
            .FirstOrDefault(File.Exists);

    public static RedisServerProcess Start(string executable)
    {
        string directory = Directory.CreateTempSubdirectory("scaleout-redis-").FullName;
        string pidFile = Path.Combine(directory, "redis.pid");
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        var start = new ProcessStartInfo(executable)
        {
            ArgumentList = { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "yes", "--pidfile", pidFile, "--dir", directory },
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using (Process launcher = Process.Start(start)!)
        {
            launcher.WaitForExit();
        }

        var waited = Stopwatch.StartNew();
        while (!(File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out _) && Accepts(port)))
        {
            if (waited.Elapsed > TimeSpan.FromSeconds(10))
            {
                throw new InvalidOperationException($"redis-server did not start on port {port}");
            }

            Thread.Sleep(10);
        }

        return new RedisServerProcess($"127.0.0.1:{port}", int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture), directory);
    }

    public void Dispose()
    {
        try
        {
            using Process server = Process.GetProcessById(_pid);
            server.Kill();
            server.WaitForExit(5000);
        }
        catch (ArgumentException)
        {
        }

        Directory.Delete(_directory, recursive: true);
    }

    private static bool Accepts(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
