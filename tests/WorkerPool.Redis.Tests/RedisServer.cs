using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace WorkerPool.Redis.Tests;

/// <summary>
/// A real redis-server on a free loopback port, without persistence, started for the tests and stopped by its PID.
/// </summary>
public sealed class RedisServer : IDisposable
{
    private readonly string _directory;
    private readonly int _pid;

    private RedisServer(int port, string directory, int pid)
    {
        Port = port;
        _directory = directory;
        _pid = pid;
    }

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    public static RedisServer Start()
    {
        string executable = FindOnPath("redis-server") ?? throw new InvalidOperationException(
            "redis-server is not on PATH, and these tests need a real one. Install it with "
            + "'apt-get update && apt-get install -y redis-server' (Debian/Ubuntu); '.ci/run' installs it before running the tests.");
        string directory = Directory.CreateTempSubdirectory("workerpool-redis-tests-").FullName;
        string pidFile = Path.Combine(directory, "redis.pid");
        int port = FreePort();
        var start = new ProcessStartInfo(executable)
        {
            ArgumentList = { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "yes", "--pidfile", pidFile, "--dir", directory },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using (Process launcher = Process.Start(start)!)
        {
            launcher.WaitForExit();
            if (launcher.ExitCode != 0)
            {
                throw new InvalidOperationException($"redis-server exited with {launcher.ExitCode}: {launcher.StandardError.ReadToEnd()}{launcher.StandardOutput.ReadToEnd()}");
            }
        }

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid) && CanConnect(port))
            {
                return new RedisServer(port, directory, pid);
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                throw new InvalidOperationException($"redis-server on port {port} did not start within 10 s.");
            }

            Thread.Sleep(10);
        }
    }

    public ConnectionMultiplexer Connect(bool allowAdmin = false)
    {
        var options = ConfigurationOptions.Parse(Endpoint);
        options.AbortOnConnectFail = false;
        options.AllowAdmin = allowAdmin;
        options.ConnectTimeout = 2000;
        options.SyncTimeout = 2000;
        options.AsyncTimeout = 2000;
        return ConnectionMultiplexer.Connect(options);
    }

    public void Dispose()
    {
        try
        {
            using Process process = Process.GetProcessById(_pid);
            process.Kill();
            process.WaitForExit(5000);
        }
        catch (ArgumentException)
        {
            // Already gone.
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static bool CanConnect(int port)
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindOnPath(string name)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

/// <summary>One redis-server for the whole test collection; each test uses its own stream keys.</summary>
public sealed class RedisFixture : IDisposable
{
    public RedisFixture()
    {
        Server = RedisServer.Start();
        Connection = Server.Connect(allowAdmin: true);
    }

    public RedisServer Server { get; }

    /// <summary>The tests' own connection, for setting up and inspecting streams (not used by workers under test).</summary>
    public ConnectionMultiplexer Connection { get; }

    public void Dispose()
    {
        Connection.Dispose();
        Server.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class RedisServerDefinition : ICollectionFixture<RedisFixture>
{
    public const string Name = "redis-server";
}
