// The C# smoke test against a live server and the rig (run by clients/smoke-test.sh; the README example does the same):
// registers a password mailbox, sets its password, streams every message through the facade (each SHA-256 verified
// against the end frame, then against the expected set), acknowledges them with delete, and checks the mailbox is empty.
using MailGrpc.Client;
using MailGrpc.V1;
using Microsoft.Extensions.DependencyInjection;

static string Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : throw new InvalidOperationException($"{name} is not set");

using var services = new ServiceCollection()
    .AddMailGrpcClient(options =>
    {
        options.Address = new Uri(Env("MAILGRPC_ADDRESS"));
        options.ApiKey = Env("MAILGRPC_API_KEY");
    })
    .BuildServiceProvider();
var client = services.GetRequiredService<MailGrpcClient>();

var expected = Env("MAILGRPC_SMOKE_EXPECTED_SHA256").Split(',').ToHashSet(StringComparer.Ordinal);
var seeded = expected.Count;
const string consumer = "smoke-dotnet";

var created = await client.Mailboxes.CreateMailboxAsync(new CreateMailboxRequest
{
    Mailbox = new Mailbox
    {
        Username = Env("MAILGRPC_SMOKE_USER"),
        DisplayName = "C# smoke test",
        Server = new ServerSettings
        {
            Host = Env("MAILGRPC_SMOKE_POP3_HOST"),
            Port = int.Parse(Env("MAILGRPC_SMOKE_POP3_PORT"), System.Globalization.CultureInfo.InvariantCulture),
            Security = Enum.Parse<Security>(Env("MAILGRPC_SMOKE_POP3_SECURITY").Replace("_", string.Empty, StringComparison.Ordinal), ignoreCase: true),
        },
        AuthMethod = new AuthMethod { Password = new PasswordAuth() },
    },
});
var mailboxId = created.Mailbox.MailboxId;
Console.WriteLine($"created mailbox {mailboxId}");
await client.Authorization.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = mailboxId, Password = Env("MAILGRPC_SMOKE_PASSWORD") });

// Live managed memory while the handler holds a message: about one message, however many are streamed.
var baseline = GC.GetTotalMemory(forceFullCollection: true);
long peakLive = 0, largest = 0;

// ConsumeAsync streams the unacknowledged messages, hands each verified message to the handler, then acknowledges
// (and here deletes) every one the handler accepted.
var result = await client.ConsumeAsync(mailboxId, consumer, async (message, cancellationToken) =>
{
    if (!expected.Remove(message.Sha256))
    {
        throw new InvalidOperationException($"message {message.Uid} has unexpected sha256 {message.Sha256}");
    }

    largest = Math.Max(largest, message.Length);
    peakLive = Math.Max(peakLive, GC.GetTotalMemory(forceFullCollection: true) - baseline);
    // A MimeMessage holds its own copy of the parts (and MimeKit keeps pooled buffers), so large ones are not parsed
    // here: the measurement above is of the stream itself.
    var subject = message.Length <= 1024 * 1024 ? (await message.ParseMimeAsync(cancellationToken)).Subject : "(not parsed)";
    Console.WriteLine($"received {message.Uid}: {message.Length} bytes, sha256 {message.Sha256}, subject '{subject}'");
}, delete: true);

if (expected.Count != 0 || result.SkippedUids.Count != 0)
{
    throw new InvalidOperationException($"{expected.Count} expected messages were not streamed; {result.SkippedUids.Count} skipped");
}

var deleted = result.Acknowledgement.DeletedUids.Count;
var listed = await client.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = mailboxId });
if (listed.TotalCount != 0 || deleted != seeded)
{
    throw new InvalidOperationException($"after deleting {deleted} messages the mailbox still holds {listed.TotalCount}");
}

Console.WriteLine($"largest message {largest / 1048576.0:F1} MiB, peak live managed memory while handling {peakLive / 1048576.0:F1} MiB");
// One message plus fixed overhead (channel, HTTP/2 buffers, MimeKit): never one message per message streamed.
if (peakLive > (1.25 * largest) + (8 * 1048576))
{
    throw new InvalidOperationException($"peak live memory {peakLive} bytes is more than one message of {largest} bytes");
}

await client.Mailboxes.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = mailboxId });
Console.WriteLine($"dotnet smoke: {deleted} messages streamed, verified, acknowledged and deleted; mailbox empty");
