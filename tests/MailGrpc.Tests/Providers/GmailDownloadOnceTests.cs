using Grpc.Core;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;

namespace MailGrpc.Tests.Providers;

/// <summary>
/// "Nothing lost" on Gmail, through a real server process against the Gmail personality, which (like Gmail) stops
/// offering every message RETRieved in a session that ended with QUIT. MailGrpc ends reading sessions without QUIT, so
/// whatever was not acknowledged is offered again.
/// </summary>
[Collection("personalities")]
public sealed class GmailDownloadOnceTests(PersonalityRig fixture)
{
    private PersonalityServer Gmail => fixture.Server;

    private async Task<(ServerProcess Server, TestTenant Tenant, string MailboxId, string User, List<byte[]> Seeded)> GmailMailboxAsync(int messages, int size)
    {
        var tenant = TestTenant.Create("gmail");
        var server = await ServerProcess.StartAsync(fixture.Rig.ServerProcessSettings(tenant));
        var user = Pop3Rig.NewUser("gmail");
        var password = "app-password-" + Guid.NewGuid().ToString("N")[..8];
        await Gmail.AddUserAsync(PersonalityServer.Gmail, user, password: password);
        var seeded = Enumerable.Range(0, messages).Select(i => Pop3Rig.MakeMessage(i, size)).ToList();
        await Gmail.SeedAsync(PersonalityServer.Gmail, user, seeded);
        var id = "gm-" + Guid.NewGuid().ToString("N")[..10];
        await server.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox
            {
                Username = user,
                Provider = Provider.Google,
                Server = new ServerSettings { Host = "127.0.0.1", Port = Gmail.GmailPort, Security = Security.ImplicitTls },
                AuthMethod = new AuthMethod { Password = new PasswordAuth() },
            },
        });
        await server.Authorization(tenant.ApiKey).SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password });
        return (server, tenant, id, user, seeded);
    }

    private static async Task<List<StreamedMessage>> StreamAsync(ServerProcess server, TestTenant tenant, StreamMessagesRequest request)
    {
        using var call = server.Messages(tenant.ApiKey).StreamMessages(request);
        return await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame);
    }

    [Fact]
    public async Task A_consumer_that_reads_10_of_100_without_acknowledging_gets_all_100_again_and_after_acknowledging_them_exactly_the_other_90()
    {
        var (server, tenant, id, user, seeded) = await GmailMailboxAsync(100, 20_000);
        await using var _ = server;

        // Read 10 complete messages (the server has fetched further ahead), then cancel without acknowledging.
        List<StreamedMessage> firstTen;
        using (var cancel = new CancellationTokenSource())
        {
            using var call = server.Messages(tenant.ApiKey).StreamMessages(new StreamMessagesRequest { MailboxId = id, Consumer = "c1" }, cancellationToken: cancel.Token);
            firstTen = await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame, stopAfter: 10);
            await cancel.CancelAsync();
        }

        Assert.Equal(10, firstTen.Count(m => m.End is not null));
        await WaitForSessionEndAsync(user);
        var state = await Gmail.StateAsync(PersonalityServer.Gmail, user);
        Assert.True(state["retrieved"]!.GetValue<int>() >= 10, "the server downloaded at least the 10 messages");
        Assert.Equal(0, state["quits"]!.GetValue<int>());

        var again = await StreamAsync(server, tenant, new StreamMessagesRequest { MailboxId = id, Consumer = "c1", OnlyUnacknowledged = true });
        Assert.Equal(100, again.Count);
        Assert.Equal(seeded.Select(Pop3Rig.Sha256).ToHashSet(), again.Select(m => m.End!.Sha256).ToHashSet());
        Assert.All(again, m => Assert.Equal(m.ActualSha256, m.End!.Sha256));

        // Acknowledge the first ten: exactly the other 90 come next.
        var ack = new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "c1" };
        ack.Uids.AddRange(firstTen.Select(m => m.Uid));
        await server.Messages(tenant.ApiKey).AcknowledgeMessagesAsync(ack);
        var rest = await StreamAsync(server, tenant, new StreamMessagesRequest { MailboxId = id, Consumer = "c1", OnlyUnacknowledged = true });
        Assert.Equal(90, rest.Count);
        Assert.Empty(rest.Select(m => m.Uid).Intersect(firstTen.Select(m => m.Uid)));
        Assert.Equal(again.Select(m => m.Uid).Except(firstTen.Select(m => m.Uid)).ToHashSet(), rest.Select(m => m.Uid).ToHashSet());
    }

    [Fact]
    public async Task Max_messages_hides_nothing_and_acknowledge_with_delete_removes_exactly_what_was_acknowledged()
    {
        var (server, tenant, id, user, _) = await GmailMailboxAsync(30, 5_000);
        await using var _ = server;

        var ten = await StreamAsync(server, tenant, new StreamMessagesRequest { MailboxId = id, Consumer = "c1", MaxMessages = 10 });
        Assert.Equal(10, ten.Count);
        await WaitForSessionEndAsync(user);

        var all = await StreamAsync(server, tenant, new StreamMessagesRequest { MailboxId = id, Consumer = "c1", OnlyUnacknowledged = true });
        Assert.Equal(30, all.Count);

        // Acknowledge-and-delete the ten: the deleting session (DELE + QUIT) takes away exactly those.
        var ack = new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "c1", Delete = true };
        ack.Uids.AddRange(ten.Select(m => m.Uid));
        var deleted = await server.Messages(tenant.ApiKey).AcknowledgeMessagesAsync(ack);
        Assert.Equal(ten.Select(m => m.Uid).Order(), deleted.DeletedUids.Order());

        var listed = await server.Messages(tenant.ApiKey).ListMessagesAsync(new ListMessagesRequest { MailboxId = id });
        Assert.Equal(20, listed.TotalCount);
        Assert.Empty(listed.Messages.Select(m => m.Uid).Intersect(ten.Select(m => m.Uid)));
        var state = await Gmail.StateAsync(PersonalityServer.Gmail, user);
        Assert.Equal(10, state["messages"]!.AsArray().Count(m => m!["popped"]!.GetValue<bool>()));
    }

    /// <summary>The personality unlocks the maildrop when the socket closes; wait for that instead of sleeping.</summary>
    private async Task WaitForSessionEndAsync(string user)
    {
        await Eventually.WaitAsync(
            async () => !(await Gmail.StateAsync(PersonalityServer.Gmail, user))["locked"]!.GetValue<bool>(),
            TimeSpan.FromSeconds(20),
            "the POP3 session to end");
    }
}
