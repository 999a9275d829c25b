using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailGrpc.Tests.Messages;

namespace MailGrpc.Tests.Providers;

/// <summary>
/// The rig's POP3 provider personalities (tests/rig/pop3-personalities/server.js: Gmail and Exchange Online), started
/// for a test collection with the rig's TLS certificate on free loopback ports and stopped by its PID. Users, messages
/// and refusals are set through its admin API.
/// </summary>
public sealed class PersonalityServer : IAsyncDisposable
{
    public const string Gmail = "gmail";
    public const string Exchange = "exchange";

    private readonly Process _process;
    private readonly HttpClient _admin = new();

    private PersonalityServer(Process process, JsonObject ports)
    {
        _process = process;
        GmailPort = ports["gmail"]!.GetValue<int>();
        ExchangePort = ports["exchange"]!.GetValue<int>();
        _admin.BaseAddress = new Uri($"http://127.0.0.1:{ports["admin"]!.GetValue<int>()}");
    }

    public int GmailPort { get; }

    public int ExchangePort { get; }

    public int Port(string personality) => personality == Gmail ? GmailPort : ExchangePort;

    public static async Task<PersonalityServer> StartAsync(Pop3Rig rig)
    {
        var tls = Path.Combine(rig.Env("MAILGRPC_RIG_DIR"), "tls");
        var info = new ProcessStartInfo("node", [Path.Combine(Infrastructure.RepoPaths.Root, "tests", "rig", "pop3-personalities", "server.js")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["RIG_TLS_CERT"] = Path.Combine(tls, "server.crt");
        info.Environment["RIG_TLS_KEY"] = Path.Combine(tls, "server.key");
        var process = Process.Start(info) ?? throw new InvalidOperationException("node did not start");
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token)
                ?? throw new InvalidOperationException("The personality server exited before it was ready.");
            if (line.StartsWith("READY ", StringComparison.Ordinal))
            {
                var server = new PersonalityServer(process, JsonNode.Parse(line[6..])!.AsObject());
                // Keep draining its event lines so the pipe never fills.
                _ = Task.Run(async () =>
                {
                    while (await process.StandardOutput.ReadLineAsync() is not null)
                    {
                    }
                });
                return server;
            }
        }
    }

    public async Task AddUserAsync(string personality, string user, string? password = null, string? token = null) =>
        await PostAsync("/users", new { personality, user, password, token });

    public async Task SeedAsync(string personality, string user, IEnumerable<byte[]> messages) =>
        await PostAsync("/seed", new { personality, user, messages = messages.Select(Convert.ToBase64String).ToArray() });

    /// <summary>Every login of <paramref name="user"/> is answered with <paramref name="line"/> (null: normal logins again).</summary>
    public async Task RefuseAsync(string personality, string user, string? line) =>
        await PostAsync("/refusal", new { personality, user, line });

    public async Task<JsonObject> StateAsync(string personality, string user) =>
        (await _admin.GetFromJsonAsync<JsonObject>($"/state?personality={personality}&user={Uri.EscapeDataString(user)}"))!;

    private async Task PostAsync(string path, object body)
    {
        using var response = await _admin.PostAsJsonAsync(path, body, new JsonSerializerOptions());
        response.EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        _admin.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}

/// <summary>The rig plus one personality server for a test class.</summary>
public sealed class PersonalityRig : IAsyncLifetime
{
    public Pop3Rig Rig { get; } = new();

    public PersonalityServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PersonalityServer.StartAsync(Rig);

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Rig.Dispose();
    }
}

[CollectionDefinition("personalities")]
public sealed class PersonalityRigGroup : ICollectionFixture<PersonalityRig>;
