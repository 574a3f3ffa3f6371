using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace WorkerPool.Extensions.Hosting.Internal;

/// <summary>
/// The work of the <c>BindConfiguration</c> and <c>Bind</c> methods of this package and of those built on it: each runs
/// an options reader of its own (which reports what it cannot read as an <see cref="OptionsValidationException"/>)
/// each time the named options are built.
/// </summary>
internal static class ConfigurationBinding
{
    /// <summary>Reads the options from the section at <paramref name="configSectionPath"/> of the application's configuration.</summary>
    public static OptionsBuilder<TOptions> BindConfiguration<TOptions>(
        OptionsBuilder<TOptions> optionsBuilder,
        string configSectionPath,
        Action<IConfiguration, TOptions, string> read)
        where TOptions : class
    {
        string name = optionsBuilder.Name;
        optionsBuilder.Services.AddSingleton<IConfigureOptions<TOptions>>(services =>
        {
            IConfiguration root = services.GetRequiredService<IConfiguration>();
            IConfiguration section = configSectionPath.Length == 0 ? root : root.GetSection(configSectionPath);
            return new ConfigureNamedOptions<TOptions>(name, options => read(section, options, name));
        });
        return optionsBuilder;
    }

    /// <summary>Reads the options from <paramref name="config"/>.</summary>
    public static OptionsBuilder<TOptions> Bind<TOptions>(OptionsBuilder<TOptions> optionsBuilder, IConfiguration config, Action<IConfiguration, TOptions, string> read)
        where TOptions : class
    {
        string name = optionsBuilder.Name;
        return optionsBuilder.Configure(options => read(config, options, name));
    }
}
