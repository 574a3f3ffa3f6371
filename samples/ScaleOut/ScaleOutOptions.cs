using System.Globalization;

namespace ScaleOut;

/// <summary>The command line of both modes.</summary>
internal sealed class ScaleOutOptions
{
    public int Jobs { get; private set; } = 20_000;

    public int Processes { get; private set; } = 3;

    public int MaxWorkers { get; private set; } = 16;

    public string? Redis { get; private set; }

    public bool WorkerMode { get; private set; }

    public string Stream { get; private set; } = "";

    public string Name { get; private set; } = "";

    public static ScaleOutOptions Parse(string[] args)
    {
        var options = new ScaleOutOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Number(int min)
            {
                string name = args[i];
                return int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min
                    ? n
                    : throw new ArgumentException($"{name} needs a whole number of at least {min}");
            }

            switch (args[i])
            {
                case "--jobs": options.Jobs = Number(1); break;
                case "--processes": options.Processes = Number(2); break;
                case "--max-workers": options.MaxWorkers = Number(1); break;
                case "--redis": options.Redis = Value(); break;
                case "--worker": options.WorkerMode = true; break;
                case "--stream": options.Stream = Value(); break;
                case "--name": options.Name = Value(); break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }

        return options;
    }
}
