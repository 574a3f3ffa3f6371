using LeakDemo;

namespace WorkerPool.LeakDemo.Tests;

public sealed class CommandLineTests
{
    [Fact]
    public void Parse_NoArguments_UsesDefaults()
    {
        CommandLineArguments parsed = CommandLine.Parse([]);

        parsed.Options.Should().Be(new LeakDemoOptions());
        parsed.CsvPath.Should().BeNull();
        parsed.ShowHelp.Should().BeFalse();
    }

    [Fact]
    public void Parse_EveryFlag_SetsOptions()
    {
        string csv = Path.Combine(Path.GetTempPath(), "leak-demo.csv");

        CommandLineArguments parsed = CommandLine.Parse(["--requests", "500", "--concurrency=4", "--csv", csv]);

        parsed.Options.Requests.Should().Be(500);
        parsed.Options.Concurrency.Should().Be(4);
        parsed.CsvPath.Should().Be(Path.GetFullPath(csv));
    }

    [Fact]
    public void Parse_FewerRequestsThanDefaultConcurrency_LowersConcurrency()
    {
        CommandLineArguments parsed = CommandLine.Parse(["--requests", "3"]);

        parsed.Options.Concurrency.Should().Be(3);
    }

    [Theory]
    [InlineData(new[] { "--requests", "0" }, "--requests must be a whole number from 1")]
    [InlineData(new[] { "--requests", "abc" }, "--requests must be a whole number from 1")]
    [InlineData(new[] { "--requests", "-5" }, "--requests must be a whole number from 1")]
    [InlineData(new[] { "--requests", "--concurrency", "5" }, "--requests needs a value")]
    [InlineData(new[] { "--concurrency" }, "--concurrency needs a value")]
    [InlineData(new[] { "--concurrency", "20", "--requests", "10" }, "--concurrency (20) must not exceed --requests (10)")]
    [InlineData(new[] { "--requests", "10", "--requests", "20" }, "--requests was given more than once")]
    [InlineData(new[] { "--verbose" }, "unknown flag '--verbose'")]
    [InlineData(new[] { "500" }, "unexpected argument '500'")]
    [InlineData(new[] { "--csv", "/no/such/directory/out.csv" }, "--csv: the directory '/no/such/directory' does not exist")]
    public void Parse_InvalidArguments_ThrowsNamingTheFlag(string[] args, string message)
    {
        Action parse = () => CommandLine.Parse(args);

        parse.Should().Throw<CommandLineException>().Which.Message.Should().Contain(message);
    }
}
