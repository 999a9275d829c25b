// Streams one mailbox through the C# SDK ("sdk": MailGrpcClient.StreamMessagesAsync, SHA-256 checked by the SDK) or
// through a bare Grpc.Net.Client channel and the generated stub ("bare": frames read and hashed here), and prints
// "RESULT <mode> <messages> <bytes> <seconds>". Run by bench/sdks.sh.
using System.Diagnostics;
using System.Security.Cryptography;
using Grpc.Core;
using Grpc.Net.Client;
using MailGrpc.Client;
using MailGrpc.V1;

var mode = args[0];
var address = new Uri(Environment.GetEnvironmentVariable("MAILGRPC_ADDRESS")!);
var apiKey = Environment.GetEnvironmentVariable("MAILGRPC_API_KEY")!;
var mailboxId = Environment.GetEnvironmentVariable("BENCH_MAILBOX_ID")!;
var request = new StreamMessagesRequest { MailboxId = mailboxId, View = MessageView.Full };
long messages = 0, bytes = 0;
var clock = Stopwatch.StartNew();
if (mode == "sdk")
{
    using var client = new MailGrpcClient(new MailGrpcClientOptions { Address = address, ApiKey = apiKey });
    await foreach (var message in client.StreamMessagesAsync(request))
    {
        messages++;
        bytes += message.Length;
    }
}
else
{
    using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { MaxReceiveMessageSize = 16 * 1024 * 1024 });
    var stub = new MessageService.MessageServiceClient(channel);
    using var call = stub.StreamMessages(request, new Metadata { { "x-api-key", apiKey } });
    using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    await foreach (var response in call.ResponseStream.ReadAllAsync())
    {
        var frame = response.Frame;
        if (frame.Chunk is { } chunk)
        {
            hash.AppendData(chunk.Data.Span);
            bytes += chunk.Data.Length;
        }
        else if (frame.End is { } end)
        {
            if (Convert.ToHexStringLower(hash.GetHashAndReset()) != end.Sha256)
            {
                throw new InvalidOperationException($"SHA-256 mismatch for {end.Uid}");
            }

            messages++;
        }
    }
}

Console.WriteLine($"RESULT {mode} {messages} {bytes} {clock.Elapsed.TotalSeconds:F3}");
