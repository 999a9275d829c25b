using System.Text.RegularExpressions;
using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Deployment;

/// <summary>docs/configuration.md and the options classes name the same keys.</summary>
[Trait("Layer", "Fast")]
public sealed partial class ConfigurationReferenceTests
{
    private static readonly string Document = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "configuration.md"));

    [Fact]
    public void Every_key_in_the_reference_binds_to_the_options()
    {
        var keys = DocumentedKeys().ToList();
        Assert.True(keys.Count >= 20, $"only {keys.Count} keys found in docs/configuration.md");
        var problems = keys.Select(k => ConfigurationSchema.Check(k.Replace(ConfigurationSchema.AnyKey, "x", StringComparison.Ordinal).Replace(ConfigurationSchema.AnyIndex, "0", StringComparison.Ordinal))).OfType<string>().ToList();
        Assert.Empty(problems);
    }

    [Fact]
    public void Every_option_is_in_the_reference()
    {
        var documented = DocumentedKeys().ToHashSet(StringComparer.OrdinalIgnoreCase);
        var missing = ConfigurationSchema.MailGrpcLeaves().Where(leaf => !documented.Contains(leaf)).ToList();
        Assert.True(missing.Count == 0, "docs/configuration.md does not list: " + string.Join(", ", missing));
    }

    [Fact]
    public void The_check_catches_a_key_that_does_not_bind()
    {
        Assert.NotNull(ConfigurationSchema.Check("MailGrpc:Pop3:MaxMesageSize"));
        Assert.Contains("MailGrpc:Shutdown:DrainTimeout", ConfigurationSchema.MailGrpcLeaves());
        Assert.Contains("MailGrpc:OAuthClients:<name>:Scopes:<n>", ConfigurationSchema.MailGrpcLeaves());
    }

    /// <summary>The back-quoted <c>MailGrpc:</c> keys in the first column of the document's tables.</summary>
    private static IEnumerable<string> DocumentedKeys() =>
        TableKey().Matches(Document).Select(m => m.Groups["key"].Value).Where(k => k.StartsWith("MailGrpc:", StringComparison.Ordinal));

    [GeneratedRegex(@"^\|\s*`(?<key>[^`]+)`", RegexOptions.Multiline)]
    private static partial Regex TableKey();
}
