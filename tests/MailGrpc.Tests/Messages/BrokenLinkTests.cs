using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Messages;

/// <summary>
/// Progress on a link that always breaks at the same point: each message is streamed as soon as its fetch is complete,
/// so a drop after k complete messages has delivered those k, and the next stream (only_unacknowledged, after the
/// consumer acknowledged what it got) starts after them.
/// </summary>
[Collection("pop3")]
public sealed class BrokenLinkTests(Pop3Rig rig) : IAsyncDisposable
{
    private readonly MessagesHost _host = new(rig);

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    [Fact]
    public async Task A_connection_cut_after_four_and_a_half_messages_delivers_four_every_time_until_all_twenty_arrived()
    {
        const int size = 200_000;
        var user = Pop3Rig.NewUser("cut");
        var password = rig.AddPasswordUser(user);
        var seeded = Enumerable.Range(0, 20).Select(i => Pop3Rig.MakeMessage(i, size)).ToList();
        await rig.SeedAsync(user, seeded);
        // Every connection is cut once the server has sent 4.5 messages' worth of bytes (after greeting, TLS and login).
        await using var proxy = new CuttingProxy(rig.Pop3sPort, cutAfterBytes: 4 * size + size / 2);
        var id = await _host.CreateActiveMailboxAsync(user, Security.ImplicitTls, proxy.Port);
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);

        var delivered = new List<StreamedMessage>();
        var attempts = 0;
        while (delivered.Count < seeded.Count)
        {
            Assert.True(++attempts <= 6, $"no progress: {delivered.Count} of {seeded.Count} after {attempts - 1} streams");
            var got = new List<StreamedMessage>();
            RpcException? dropped = null;
            using (var call = _host.Messages.StreamMessages(new StreamMessagesRequest { MailboxId = id, Consumer = "c", OnlyUnacknowledged = true }))
            {
                try
                {
                    got = await ReadAllAsync(call.ResponseStream, got);
                }
                catch (RpcException ex)
                {
                    dropped = ex;
                }
            }

            var complete = got.Where(m => m.End is not null).ToList();
            Assert.All(complete, m => Assert.Equal(m.ActualSha256, m.End!.Sha256));
            Assert.Empty(complete.Select(m => m.Uid).Intersect(delivered.Select(m => m.Uid)));
            if (delivered.Count + complete.Count < seeded.Count)
            {
                // Cut mid-5th message: exactly the 4 complete ones were delivered, then a retryable status.
                Assert.NotNull(dropped);
                Assert.Equal(StatusCode.Unavailable, dropped!.StatusCode);
                Assert.Equal(4, complete.Count);
            }

            delivered.AddRange(complete);
            if (complete.Count > 0)
            {
                var ack = new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "c" };
                ack.Uids.AddRange(complete.Select(m => m.Uid));
                await _host.Messages.AcknowledgeMessagesAsync(ack);
            }
        }

        Assert.Equal(5, attempts);
        Assert.Equal(seeded.Select(Pop3Rig.Sha256).ToHashSet(), delivered.Select(m => m.End!.Sha256).ToHashSet());
        Assert.True(proxy.Cuts >= 4);
    }

    /// <summary>Reads frames into <paramref name="into"/> so what arrived before an error is kept.</summary>
    private static async Task<List<StreamedMessage>> ReadAllAsync(IAsyncStreamReader<StreamMessagesResponse> stream, List<StreamedMessage> into)
    {
        StreamedMessage? current = null;
        while (await stream.MoveNext())
        {
            var f = stream.Current.Frame;
            switch (f.FrameCase)
            {
                case MessageFrame.FrameOneofCase.Summary:
                    current = new StreamedMessage { Summary = f.Summary };
                    into.Add(current);
                    break;
                case MessageFrame.FrameOneofCase.Chunk:
                    f.Chunk.Data.WriteTo(current!.Data);
                    break;
                case MessageFrame.FrameOneofCase.End:
                    current!.End = f.End;
                    current = null;
                    break;
            }
        }

        return into;
    }
}
