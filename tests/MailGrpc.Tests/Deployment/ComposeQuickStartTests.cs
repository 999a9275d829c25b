using System.Text.RegularExpressions;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;
using static MailGrpc.Tests.Deployment.DeploymentManifests;

namespace MailGrpc.Tests.Deployment;

/// <summary>
/// The compose quick start as docs/deployment.md documents it: with only the variables the doc names, the server gets
/// exactly the environment compose.yaml gives it and starts healthy (no container engine here, so the server process is
/// started with that environment; the deviations are the listen addresses — loopback, free ports — and the Redis host,
/// the rig's instead of the compose service name).
/// </summary>
[Collection("rig")]
public sealed partial class ComposeQuickStartTests
{
    [Fact]
    public async Task The_compose_quick_start_with_only_the_documented_variables_starts_a_healthy_server()
    {
        var doc = await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "docs", "deployment.md"));
        var quickStart = doc[doc.IndexOf("## Compose", StringComparison.Ordinal)..doc.IndexOf("## Kubernetes", StringComparison.Ordinal)];
        var documented = ExportedVariable().Matches(quickStart).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("MAILGRPC_ENCRYPTION_KEY", documented);
        Assert.Contains("MAILGRPC_API_KEY_HASH", documented);

        var apiKey = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
        var variables = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["MAILGRPC_ENCRYPTION_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["MAILGRPC_API_KEY"] = apiKey,
            ["MAILGRPC_API_KEY_HASH"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(apiKey))),
        };
        Assert.True(variables.Keys.ToHashSet().SetEquals(documented), "the doc's variables changed: " + string.Join(", ", documented));

        var compose = await File.ReadAllTextAsync(Path.Combine(DeployDirectory, "compose.yaml"));
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal) { ["ASPNETCORE_ENVIRONMENT"] = "Production" };
        foreach (var setting in ComposeSettings("compose.yaml", compose))
        {
            if (setting.Name.StartsWith("Kestrel__Endpoints__", StringComparison.Ordinal))
            {
                continue; // Listen addresses: loopback and free ports here.
            }

            var value = Interpolate(setting.Value ?? string.Empty, variables);
            settings[setting.Name] = value.Replace("redis:6379", TestRedis.Configuration, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(settings, s => s.Key.StartsWith("MailGrpc__OAuthClients__", StringComparison.Ordinal));
        await using var server = await ServerProcess.StartAsync(settings);
        var created = await server.Mailboxes(apiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            Mailbox = new Mailbox
            {
                Username = "quickstart@example.com",
                Provider = Provider.Google,
                AuthMethod = new AuthMethod { Password = new PasswordAuth() },
            },
        });
        Assert.Equal(MailboxState.PendingAuthorization, created.Mailbox.State);
        await server.Mailboxes(apiKey).DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = created.Mailbox.MailboxId });
    }

    [Fact]
    public async Task The_microsoft_overlay_refuses_to_start_without_its_client_id_instead_of_passing_an_empty_one()
    {
        var overlay = await File.ReadAllTextAsync(Path.Combine(DeployDirectory, "compose.microsoft.yaml"));
        var root = ParseDocuments(overlay).Single();
        var environment = Child(Child(Child(root, "services"), "mailgrpc"), "environment")!;
        var clientId = Scalar(environment, "MailGrpc__OAuthClients__microsoft__ClientId")!;
        Assert.Throws<InvalidOperationException>(() => Interpolate(clientId, new Dictionary<string, string>(StringComparer.Ordinal)));
        Assert.Equal("abc", Interpolate(clientId, new Dictionary<string, string>(StringComparer.Ordinal) { ["MAILGRPC_MS_CLIENT_ID"] = "abc" }));
        Assert.Empty(Problems(environment.Children.Select(c => new ManifestSetting("compose.microsoft.yaml", c.Key.ToString(), c.Value.ToString()))));
    }

    /// <summary>Compose's interpolation: <c>${VAR}</c>, <c>${VAR:-default}</c>, <c>${VAR:?error}</c> (throws when unset).</summary>
    private static string Interpolate(string value, Dictionary<string, string> variables) =>
        ComposeVariable().Replace(value, m =>
        {
            var name = m.Groups["name"].Value;
            var set = variables.TryGetValue(name, out var v) && v.Length > 0;
            return m.Groups["op"].Value switch
            {
                ":-" => set ? v! : m.Groups["arg"].Value,
                ":?" => set ? v! : throw new InvalidOperationException($"compose would refuse to start: {m.Groups["arg"].Value}"),
                _ => set ? v! : string.Empty,
            };
        });

    [GeneratedRegex(@"\$\{(?<name>[A-Z0-9_]+)(?:(?<op>:-|:\?)(?<arg>[^}]*))?\}")]
    private static partial Regex ComposeVariable();

    [GeneratedRegex(@"export (MAILGRPC_[A-Z0-9_]+)=")]
    private static partial Regex ExportedVariable();
}
