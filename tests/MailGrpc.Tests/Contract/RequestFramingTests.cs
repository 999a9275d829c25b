using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Google.Rpc;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Contract;

/// <summary>
/// Request bodies whose gRPC framing is wrong (the 5-byte prefix: compressed flag + big-endian length), sent as raw
/// HTTP/2 request bodies to the whole server in process: a precise status with an ErrorInfo reason on unary and
/// server-streaming calls — never grpc-dotnet's INTERNAL "Incomplete message." — and nothing of the body echoed.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class RequestFramingTests(RequestFramingTests.Server server) : IClassFixture<RequestFramingTests.Server>
{
    internal const string Unary = "/mailgrpc.v1.MailboxService/GetMailbox";
    internal const string ServerStreaming = "/mailgrpc.v1.MessageService/StreamMessages";
    internal const string Marker = "secret-body-marker";

    private readonly MailGrpcTestHost _host = server.Host;
    private readonly TestTenant _tenant = server.Tenant;

    /// <summary>One in-process server for the class.</summary>
    public sealed class Server : IAsyncDisposable
    {
        public TestTenant Tenant { get; } = TestTenant.Create("framing");

        public MailGrpcTestHost Host { get; }

        public Server()
        {
            Host = new MailGrpcTestHost(MailGrpcTestHost.ApiKeySettings(Tenant));
        }

        public ValueTask DisposeAsync() => Host.DisposeAsync();
    }

    /// <summary>A valid request message for both methods: field 1 (mailbox_id) holding the marker.</summary>
    private static byte[] Message => [0x0A, (byte)Marker.Length, .. Encoding.ASCII.GetBytes(Marker)];

    private static byte[] Frame(byte flag, uint declaredLength, byte[] payload)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), declaredLength);
        payload.CopyTo(frame, 5);
        return frame;
    }

    public static TheoryData<string, byte[], string> BadlyFramedBodies => new()
    {
        // The prefix declares the whole message; the body stops 10 bytes in.
        { "truncated message", Frame(0, (uint)Message.Length, Message[..10]), "incomplete_message" },
        // The prefix declares 1 MiB; nothing follows it.
        { "prefix only", Frame(0, 1024 * 1024, []), "incomplete_message" },
        // Three bytes of a five-byte prefix.
        { "truncated prefix", [0, 0, 0], "incomplete_message" },
        { "empty body", [], "missing_message" },
        { "bytes after the message", [.. Frame(0, (uint)Message.Length, Message), 0x0A, 0x01], "trailing_data" },
        { "two messages", [.. Frame(0, (uint)Message.Length, Message), .. Frame(0, (uint)Message.Length, Message)], "trailing_data" },
        { "compressed flag 2", Frame(2, (uint)Message.Length, Message), "invalid_frame" },
    };

    [Theory]
    [MemberData(nameof(BadlyFramedBodies))]
    public async Task A_badly_framed_body_is_invalid_argument_with_its_cause_on_unary_and_server_streaming_calls(string name, byte[] body, string cause)
    {
        _ = name; // the case's label in test output
        foreach (var path in new[] { Unary, ServerStreaming })
        {
            var answer = await SendAsync(path, body);

            Assert.True(answer.Code == (int)Grpc.Core.StatusCode.InvalidArgument, $"{path}: got {answer.Code} {answer.Message}");
            Assert.Equal("INVALID_ARGUMENT", answer.Info.Reason);
            Assert.Equal(cause, answer.Info.Metadata["cause"]);
            Assert.Equal("request", answer.Info.Metadata["field"]);
            Assert.DoesNotContain(Marker, answer.AllText, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(4 * 1024 * 1024 + 1)]
    [InlineData(uint.MaxValue)]
    public async Task A_prefix_declaring_more_than_the_receive_limit_is_resource_exhausted_request_too_large(uint declared)
    {
        foreach (var path in new[] { Unary, ServerStreaming })
        {
            var answer = await SendAsync(path, Frame(0, declared, Message));

            Assert.True(answer.Code == (int)Grpc.Core.StatusCode.ResourceExhausted, $"{path}: got {answer.Code} {answer.Message}");
            Assert.Equal("REQUEST_TOO_LARGE", answer.Info.Reason);
            Assert.Equal("4194304", answer.Info.Metadata["max_bytes"]); // grpc-dotnet's default MaxReceiveMessageSize
            Assert.DoesNotContain(Marker, answer.AllText, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_well_framed_body_reaches_the_method()
    {
        // The raw request passes the framing check and the method answers for the mailbox it names.
        foreach (var path in new[] { Unary, ServerStreaming })
        {
            var answer = await SendAsync(path, Frame(0, (uint)Message.Length, Message));
            Assert.True(answer.Code == (int)Grpc.Core.StatusCode.NotFound, $"{path}: got {answer.Code} {answer.Message}");
            Assert.Equal("MAILBOX_NOT_FOUND", answer.Info.Reason);
        }

        // And a real client's calls, unary and server-streaming, are untouched.
        var created = await _host.Mailboxes(_tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest { MailboxId = "framing-ok", Mailbox = Mailboxes.MailboxApiTests.PasswordMailbox() });
        var got = await _host.Mailboxes(_tenant.ApiKey).GetMailboxAsync(new GetMailboxRequest { MailboxId = created.Mailbox.MailboxId });
        Assert.Equal("framing-ok", got.Mailbox.MailboxId);
    }

    private async Task<Answer> SendAsync(string path, byte[] body)
    {
        using var client = _host.CreateHttpClient();
        return await SendAsync(client, new Uri(path, UriKind.Relative), _tenant.ApiKey, body);
    }

    internal sealed record Answer(int Code, string Message, ErrorInfo Info, string AllText);

    internal static byte[] WellFramed() => Frame(0, (uint)Message.Length, Message);

    internal static byte[] Truncated() => Frame(0, (uint)Message.Length, Message[..10]);

    /// <summary>POSTs <paramref name="body"/> as a gRPC request body, reads the response to its end and returns its status.</summary>
    internal static async Task<Answer> SendAsync(HttpClient client, Uri uri, string apiKey, byte[] body)
    {
        var path = uri.ToString();
        using var request = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        request.Headers.Add("x-api-key", apiKey);

        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var payload = await response.Content.ReadAsByteArrayAsync();

        // A trailers-only response carries the status in its headers; otherwise it is in the trailers.
        var fields = response.Headers.Concat(response.TrailingHeaders).ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase);
        Assert.True(fields.ContainsKey("grpc-status-details-bin"), $"{path}: no ErrorInfo; grpc-status {fields.GetValueOrDefault("grpc-status")} {fields.GetValueOrDefault("grpc-message")}");
        var status = Status.Parser.ParseFrom(Convert.FromBase64String(fields["grpc-status-details-bin"]));
        var info = status.Details.Single(d => d.Is(ErrorInfo.Descriptor)).Unpack<ErrorInfo>();
        var allText = string.Join("\n", fields.Values) + status + Encoding.Latin1.GetString(payload);
        return new Answer(int.Parse(fields["grpc-status"], System.Globalization.CultureInfo.InvariantCulture), Uri.UnescapeDataString(fields["grpc-message"]), info, allText);
    }
}
