using MailGrpc.Server.Authorization;
using MailGrpc.V1;

namespace MailGrpc.Tests.Messages;

/// <summary>WatchMessages: new mail dropped into the Maildir reaches every watcher, once (how soon is bench material, not a test's).</summary>
[Collection("pop3")]
public sealed class WatchTests(Pop3Rig rig) : IAsyncDisposable
{
    private readonly MessagesHost _host = new(rig);

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    [Fact]
    public async Task A_dropped_message_reaches_two_watchers_once()
    {
        var user = Pop3Rig.NewUser("watch");
        var password = rig.AddPasswordUser(user);
        var existing = Pop3Rig.MakeMessage(0, 3_000);
        await rig.SeedAsync(user, [existing]);
        var id = await _host.CreateActiveMailboxAsync(user, Security.ImplicitTls, rig.Pop3sPort);
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var full = _host.Messages.WatchMessages(new WatchMessagesRequest { MailboxId = id, Consumer = "w1" }, cancellationToken: cts.Token);
        using var headers = _host.Messages.WatchMessages(new WatchMessagesRequest { MailboxId = id, View = MessageView.Headers, IncludeExisting = true }, cancellationToken: cts.Token);
        await full.ResponseHeadersAsync; // the watch is established: what is there now is the baseline
        await headers.ResponseHeadersAsync;

        // include_existing: the message already there comes first on that watch only.
        var first = Assert.Single(await StreamedMessage.ReadAsync(headers.ResponseStream, r => r.Frame, stopAfter: 1));
        Assert.Equal("Message 0", first.Summary.Envelope.Subject);

        // Several chunks (64 KiB each): the poller prepares frames once for every watcher, so each must own its bytes.
        var dropped = Pop3Rig.MakeMessage(1, 300_000, "Fresh mail");
        await rig.SeedAsync(user, [dropped]);

        var got = Assert.Single(await StreamedMessage.ReadAsync(full.ResponseStream, r => r.Frame, stopAfter: 1));
        Assert.Equal("Fresh mail", got.Summary.Envelope.Subject);
        Assert.Equal(Pop3Rig.Sha256(dropped), got.End!.Sha256);
        Assert.Equal(got.ActualSha256, got.End.Sha256);

        var viaHeaders = Assert.Single(await StreamedMessage.ReadAsync(headers.ResponseStream, r => r.Frame, stopAfter: 1));
        Assert.Equal(got.Uid, viaHeaders.Uid);
        Assert.Equal(0, viaHeaders.Data.Length);

        // Acknowledged messages are not pushed again to a new watch of that consumer.
        await _host.Messages.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "w1", Uids = { got.Uid } });
        using var again = _host.Messages.WatchMessages(new WatchMessagesRequest { MailboxId = id, Consumer = "w1", IncludeExisting = true }, cancellationToken: cts.Token);
        var replay = Assert.Single(await StreamedMessage.ReadAsync(again.ResponseStream, r => r.Frame, stopAfter: 1));
        Assert.Equal(first.Uid, replay.Uid);
        await cts.CancelAsync();
    }
}
