using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Hosting;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;
using MailGrpc.V1;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

// Cost of handing out a cached, valid access token (IMailboxCredentials.GetAsync) on Redis: latency and Redis round trips.
// Usage: MailGrpc.Bench <redis=127.0.0.1:16379> [calls=20000]
var redisConfiguration = args.Length > 0 ? args[0] : "127.0.0.1:16379";
var calls = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20000;

var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
{
    ["MailGrpc:Redis:Configuration"] = redisConfiguration,
    ["MailGrpc:Encryption:Keys:bench"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
    ["MailGrpc:Encryption:ActiveKeyId"] = "bench",
    ["MailGrpc:OAuthClients:bench:Provider"] = "Generic",
    ["MailGrpc:OAuthClients:bench:ClientId"] = "bench",
    ["MailGrpc:OAuthClients:bench:Authority"] = "https://127.0.0.1:1",
}).Build();
var services = new ServiceCollection();
services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
services.AddSingleton(TimeProvider.System);
services.AddSingleton<IConfiguration>(configuration);
services.AddMailGrpcOptions(configuration);
services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(redisConfiguration + ",allowAdmin=true"));
services.AddSingleton<IStateStore, RedisStateStore>();
services.AddSingleton<MailboxRepository>();
services.AddMailGrpcAuthorization(configuration);
await using var provider = services.BuildServiceProvider();

var tenant = "bench-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
var mailbox = new MailboxRecord
{
    Tenant = tenant, Id = "mbx-bench", Username = "bench@example.test", Host = "127.0.0.1", Port = 110,
    AuthKind = MailboxAuthKind.OAuth, OAuthClient = "bench", State = MailGrpc.Server.Mailboxes.MailboxState.Active,
};
await provider.GetRequiredService<MailboxRepository>().CreateAsync(mailbox, CancellationToken.None);
await provider.GetRequiredService<CredentialStore>().PutAsync(tenant, mailbox.Id, new StoredCredential
{
    Kind = MailGrpc.Server.Authorization.Secrets.CredentialKind.Delegated, OAuthClient = "bench", AccessToken = "bench-access-token", RefreshToken = "bench-refresh-token",
    AccessTokenExpiresAt = DateTimeOffset.UtcNow.AddHours(1), StoredAt = DateTimeOffset.UtcNow,
}, "*", CancellationToken.None);

var broker = provider.GetRequiredService<IMailboxCredentials>();
var server = provider.GetRequiredService<IConnectionMultiplexer>().GetServers()[0];
for (var i = 0; i < 1000; i++)
{
    await broker.GetAsync(mailbox, CancellationToken.None);
}

// Sequential calls: each one's latency, and the Redis commands they cost (INFO commandstats counts every command).
var before = await TotalCommandsAsync(server);
var latencies = new double[calls];
var total = Stopwatch.StartNew();
for (var i = 0; i < calls; i++)
{
    var start = Stopwatch.GetTimestamp();
    await broker.GetAsync(mailbox, CancellationToken.None);
    latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
}

total.Stop();
var after = await TotalCommandsAsync(server);
// The INFO call itself is one command.
var perCall = (after - before - 1) / (double)calls;
Array.Sort(latencies);
Console.WriteLine($"| calls | Redis commands per call | calls/s | p50 ms | p99 ms | max ms |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {calls} | {perCall:0.000} | {calls / total.Elapsed.TotalSeconds:0} | {latencies[calls / 2]:0.000} | {latencies[(int)(calls * 0.99)]:0.000} | {latencies[^1]:0.000} |"));
await provider.GetRequiredService<CredentialStore>().DeleteAsync(tenant, mailbox.Id, CancellationToken.None);
var repository = provider.GetRequiredService<MailboxRepository>();
await repository.MarkDeletingAsync(tenant, mailbox.Id, "*", CancellationToken.None);
await repository.FinishDeleteAsync(tenant, mailbox.Id, revokedAtProvider: null, CancellationToken.None);

static async Task<long> TotalCommandsAsync(IServer server)
{
    long sum = 0;
    foreach (var group in await server.InfoAsync("commandstats"))
    {
        foreach (var entry in group)
        {
            // cmdstat_hmget: calls=123,usec=...
            var calls = entry.Value.Split(',')[0];
            sum += long.Parse(calls["calls=".Length..], CultureInfo.InvariantCulture);
        }
    }

    return sum;
}
