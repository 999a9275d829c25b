using System.Text.RegularExpressions;
using MailGrpc.Server.Authorization;
using MailGrpc.V1;

namespace MailGrpc.Tests.Messages;

/// <summary>
/// Two server instances (separate DI containers, separate lease managers, one Redis) stream the same mailbox at once:
/// the Redis lease serialises them, so Dovecot — which locks the maildrop (pop3_lock_session) — never answers [IN-USE],
/// and its log shows the two sessions one after the other.
/// </summary>
[Collection("pop3")]
public sealed partial class ReplicaLeaseTests(Pop3Rig rig) : IAsyncDisposable
{
    private static readonly Infrastructure.TestTenant Shared = Infrastructure.TestTenant.Create("replica");

    // The four streams take turns: the last waits for the other three. On a loaded machine three 6 MB streams can take
    // longer than the default LeaseWait (30 s), and the last would end MAILBOX_BUSY; the wait's bound is not what this test
    // is about (TakeoverTests and Pop3SessionTests are), the serialisation is.
    private static readonly Dictionary<string, string?> PatientWait = new() { ["MailGrpc:Pop3:LeaseWait"] = "00:10:00" };
    private readonly MessagesHost _a = new(rig, PatientWait, Shared);
    private readonly MessagesHost _b = new(rig, PatientWait, Shared);

    public async ValueTask DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Fact]
    public async Task Concurrent_streams_through_two_servers_never_open_two_pop3_sessions()
    {
        var user = Pop3Rig.NewUser("replica");
        var password = rig.AddPasswordUser(user);
        await rig.SeedAsync(user, Enumerable.Range(0, 300).Select(i => Pop3Rig.MakeMessage(i, 20_000)));

        // The mailbox lives once in Redis; both servers read the same record and the same lease key.
        var id = await _a.CreateActiveMailboxAsync(user, Security.ImplicitTls, rig.Pop3sPort);
        var credential = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);
        _a.Credentials.Current[id] = credential;
        var clientB = _b.Messages;
        _b.Credentials.Current[id] = credential;
        Assert.NotSame(_a.Services, _b.Services);

        var logStart = new FileInfo(rig.DovecotLog).Length;
        async Task<int> Stream(MessageService.MessageServiceClient client)
        {
            using var call = client.StreamMessages(new StreamMessagesRequest { MailboxId = id });
            var messages = await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame);
            Assert.All(messages, m => Assert.Equal(m.ActualSha256, m.End!.Sha256));
            return messages.Count;
        }

        var counts = await Task.WhenAll(Stream(_a.Messages), Stream(clientB), Stream(_a.Messages), Stream(clientB));
        Assert.All(counts, c => Assert.Equal(300, c));

        var mine = await DovecotLog.WaitForLinesAsync(rig.DovecotLog, logStart, user, lines =>
            lines.Count(l => l.Contains("Login: user=", StringComparison.Ordinal)) >= 4 && lines.Count(l => LogoutPattern().IsMatch(l)) >= 4);
        Assert.DoesNotContain(mine, l => l.Contains("IN-USE", StringComparison.OrdinalIgnoreCase));
        var logins = mine.Count(l => l.Contains("Login: user=", StringComparison.Ordinal));
        var logouts = mine.Count(l => LogoutPattern().IsMatch(l));
        Assert.Equal(4, logins);
        Assert.Equal(4, logouts);

        // Sessions never overlap: in log order, every login is followed by its logout before the next login.
        var open = 0;
        foreach (var line in mine)
        {
            if (line.Contains("Login: user=", StringComparison.Ordinal))
            {
                open++;
                Assert.Equal(1, open);
            }
            else if (LogoutPattern().IsMatch(line))
            {
                open--;
            }
        }
    }

    [GeneratedRegex(@"pop3\([^)]*\).*Disconnected")]
    private static partial Regex LogoutPattern();
}
