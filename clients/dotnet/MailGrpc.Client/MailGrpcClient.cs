using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Grpc.Net.Client.Configuration;
using MailGrpc.V1;

namespace MailGrpc.Client;

/// <summary>
/// The MailGrpc client: the generated service clients on one channel (API key on every call, default deadlines,
/// retries for idempotent reads) plus message streams that yield whole, verified messages. Thread-safe; create one
/// per server and keep it (or register it with <c>services.AddMailGrpcClient(...)</c>).
/// </summary>
public sealed class MailGrpcClient : IDisposable
{
    /// <summary>The RPCs retried on UNAVAILABLE: reads with no side effects (streams only until their first frame).</summary>
    private static readonly (string Service, string Method)[] IdempotentReads =
    [
        ("mailgrpc.v1.MailboxService", "GetMailbox"),
        ("mailgrpc.v1.MailboxService", "ListMailboxes"),
        ("mailgrpc.v1.AuthorizationService", "GetAuthorizationStatus"),
        ("mailgrpc.v1.MessageService", "ListMessages"),
        ("mailgrpc.v1.MessageService", "StreamMessages"),
        ("mailgrpc.v1.MessageService", "GetMessage"),
    ];

    private readonly GrpcChannel _channel;

    /// <summary>Creates a client and its channel.</summary>
    /// <param name="options">Address, API key, TLS, deadlines and retries.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">The options are invalid (see the message).</exception>
    public MailGrpcClient(MailGrpcClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (Validate(options) is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        _channel = GrpcChannel.ForAddress(options.Address!, new GrpcChannelOptions
        {
            HttpHandler = CreateHandler(options),
            ServiceConfig = CreateServiceConfig(options.MaxAttempts),
            // Chunks are at most 64 KiB; the default 4 MB limit leaves room for large envelopes and pages.
            MaxReceiveMessageSize = 16 * 1024 * 1024,
            DisposeHttpClient = true,
        });
        var invoker = _channel.Intercept(new CallDefaultsInterceptor(options.ApiKey!, options.UnaryDeadline, options.StreamDeadline, TimeProvider.System));
        Mailboxes = new MailboxService.MailboxServiceClient(invoker);
        Authorization = new AuthorizationService.AuthorizationServiceClient(invoker);
        Messages = new MessageService.MessageServiceClient(invoker);
    }

    /// <summary>The generated client of <c>MailboxService</c> (register, read, update, delete, diagnose mailboxes).</summary>
    public MailboxService.MailboxServiceClient Mailboxes { get; }

    /// <summary>The generated client of <c>AuthorizationService</c> (OAuth flows, passwords, status, revocation).</summary>
    public AuthorizationService.AuthorizationServiceClient Authorization { get; }

    /// <summary>The generated client of <c>MessageService</c> (raw frames; prefer the methods below for content).</summary>
    public MessageService.MessageServiceClient Messages { get; }

    /// <summary>
    /// Streams messages as whole, SHA-256-verified messages. Memory stays at about one message: each yielded message's
    /// content is valid until the next one is requested (see <see cref="ReceivedMessage"/>).
    /// </summary>
    /// <param name="request">What to stream (mailbox, consumer, view, limits, uids).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The messages in server order, skipped ones included (<see cref="ReceivedMessage.IsSkipped"/>).</returns>
    /// <exception cref="RpcException">The server refused the call or the connection broke.</exception>
    /// <exception cref="MessageIntegrityException">A message's bytes or framing did not check out.</exception>
    public async IAsyncEnumerable<ReceivedMessage> StreamMessagesAsync(StreamMessagesRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var call = Messages.StreamMessages(request, cancellationToken: cancellationToken);
        var frames = MessageStreamReader.Frames(call.ResponseStream, r => r.Frame, cancellationToken);
        await foreach (var message in MessageStreamReader.ReadMessagesAsync(frames, cancellationToken).ConfigureAwait(false))
        {
            yield return message;
        }
    }

    /// <summary>Reads one message by uid. Its content stays valid (it is not shared with other messages).</summary>
    /// <param name="mailboxId">The mailbox.</param>
    /// <param name="uid">The POP3 UIDL.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The message; <see cref="ReceivedMessage.IsSkipped"/> when the server would not send it.</returns>
    /// <exception cref="RpcException">NOT_FOUND (<c>MESSAGE_NOT_FOUND</c>) and other refusals.</exception>
    /// <exception cref="MessageIntegrityException">The bytes or framing did not check out, or no message came.</exception>
    public async Task<ReceivedMessage> GetMessageAsync(string mailboxId, string uid, CancellationToken cancellationToken = default)
    {
        using var call = Messages.GetMessage(new GetMessageRequest { MailboxId = mailboxId, Uid = uid }, cancellationToken: cancellationToken);
        using var assembler = new MessageAssembler(reuseBuffer: false);
        ReceivedMessage? result = null;
        await foreach (var frame in MessageStreamReader.Frames(call.ResponseStream, r => r.Frame, cancellationToken).ConfigureAwait(false))
        {
            result = assembler.Accept(frame) ?? result;
        }

        assembler.Complete();
        return result ?? throw new MessageIntegrityException(uid, $"The server sent no message for uid '{uid}'.");
    }

    /// <summary>Records that <paramref name="consumer"/> has safely stored these messages, and optionally deletes them.</summary>
    /// <param name="mailboxId">The mailbox.</param>
    /// <param name="consumer">The consumer name (1 to 100 of <c>A-Za-z0-9._-</c>).</param>
    /// <param name="uids">The uids stored; sent in batches of at most 10,000.</param>
    /// <param name="delete">Also delete them on the POP3 server.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The merged responses of every batch.</returns>
    /// <exception cref="RpcException">The server refused a batch; earlier batches stay acknowledged (it is idempotent).</exception>
    public async Task<AcknowledgeMessagesResponse> AcknowledgeAsync(string mailboxId, string consumer, IEnumerable<string> uids, bool delete, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uids);
        var merged = new AcknowledgeMessagesResponse();
        foreach (var batch in uids.Chunk(10_000))
        {
            var request = new AcknowledgeMessagesRequest { MailboxId = mailboxId, Consumer = consumer, Delete = delete };
            request.Uids.Add(batch);
            var response = await Messages.AcknowledgeMessagesAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
            merged.AcknowledgedUids.Add(response.AcknowledgedUids);
            merged.DeletedUids.Add(response.DeletedUids);
            merged.MissingUids.Add(response.MissingUids);
        }

        return merged;
    }

    /// <summary>
    /// Streams the messages <paramref name="consumer"/> has not acknowledged, hands each whole, verified message to
    /// <paramref name="handler"/>, and after the stream acknowledges every message the handler accepted (deleting
    /// them when <paramref name="delete"/>). If the handler or the stream fails, what was handled before is still
    /// acknowledged and the exception is rethrown, so calling again resumes where it stopped.
    /// </summary>
    /// <param name="mailboxId">The mailbox.</param>
    /// <param name="consumer">The consumer name.</param>
    /// <param name="handler">Stores one message; its content is valid only during the call.</param>
    /// <param name="delete">Delete acknowledged messages on the POP3 server.</param>
    /// <param name="cancellationToken">Cancels streaming; acknowledging what was handled is not cancelled by it.</param>
    /// <returns>The acknowledgement (acknowledged, deleted, missing uids) and the skipped messages' uids.</returns>
    /// <exception cref="RpcException">The server refused the stream or the acknowledgement.</exception>
    /// <exception cref="MessageIntegrityException">A message did not check out; it was not handed to the handler.</exception>
    public async Task<ConsumeResult> ConsumeAsync(string mailboxId, string consumer, Func<ReceivedMessage, CancellationToken, ValueTask> handler, bool delete, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var handled = new List<string>();
        var skipped = new List<string>();
        var request = new StreamMessagesRequest { MailboxId = mailboxId, Consumer = consumer, OnlyUnacknowledged = true, View = MessageView.Full };
        AcknowledgeMessagesResponse? acknowledgement = null;
        try
        {
            await foreach (var message in StreamMessagesAsync(request, cancellationToken).ConfigureAwait(false))
            {
                if (message.IsSkipped)
                {
                    skipped.Add(message.Uid);
                    continue;
                }

                await handler(message, cancellationToken).ConfigureAwait(false);
                handled.Add(message.Uid);
            }
        }
        finally
        {
            // The POP3 session belongs to the stream until it ends, so acknowledging (which may DELE) comes after it.
            if (handled.Count > 0)
            {
                acknowledgement = await AcknowledgeAsync(mailboxId, consumer, handled, delete, CancellationToken.None).ConfigureAwait(false);
            }
        }

        return new ConsumeResult(acknowledgement ?? new AcknowledgeMessagesResponse(), skipped);
    }

    /// <summary>Closes the channel.</summary>
    public void Dispose() => _channel.Dispose();

    /// <summary>Returns why the options are invalid, or null.</summary>
    internal static string? Validate(MailGrpcClientOptions options)
    {
        if (options.Address is not { IsAbsoluteUri: true } address || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps))
        {
            return "MailGrpcClientOptions.Address must be an absolute http:// or https:// URI.";
        }

        if (string.IsNullOrWhiteSpace(options.ApiKey))
        {
            return "MailGrpcClientOptions.ApiKey is required.";
        }

        if (options.MaxAttempts is < 1 or > 5)
        {
            return "MailGrpcClientOptions.MaxAttempts must be 1 to 5.";
        }

        if (options.UnaryDeadline <= TimeSpan.Zero || options.StreamDeadline <= TimeSpan.Zero)
        {
            return "MailGrpcClientOptions deadlines must be positive.";
        }

        if (options.TrustedCaCertificateFile is { } file && !File.Exists(file))
        {
            return $"MailGrpcClientOptions.TrustedCaCertificateFile '{file}' does not exist.";
        }

        return null;
    }

    private static SocketsHttpHandler CreateHandler(MailGrpcClientOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
        };
        if (options.TrustedCaCertificateFile is { } caFile)
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(caFile);
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (errors == SslPolicyErrors.None)
                {
                    return true;
                }

                // Only chain errors are forgiven, and only when the chain ends at the configured root.
                if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0)
                {
                    return false;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(new X509Certificate2(certificate));
            };
        }

        return handler;
    }

    internal static ServiceConfig CreateServiceConfig(int maxAttempts)
    {
        var config = new ServiceConfig();
        if (maxAttempts <= 1)
        {
            return config;
        }

        var methodConfig = new MethodConfig
        {
            RetryPolicy = new RetryPolicy
            {
                MaxAttempts = maxAttempts,
                InitialBackoff = TimeSpan.FromMilliseconds(200),
                MaxBackoff = TimeSpan.FromSeconds(2),
                BackoffMultiplier = 2,
                RetryableStatusCodes = { StatusCode.Unavailable },
            },
        };
        foreach (var (service, method) in IdempotentReads)
        {
            methodConfig.Names.Add(new MethodName { Service = service, Method = method });
        }

        config.MethodConfigs.Add(methodConfig);
        return config;
    }
}

/// <summary>What <see cref="MailGrpcClient.ConsumeAsync"/> did.</summary>
/// <param name="Acknowledgement">The acknowledged, deleted and missing uids.</param>
/// <param name="SkippedUids">Messages the server did not send (too large or gone); not acknowledged.</param>
public sealed record ConsumeResult(AcknowledgeMessagesResponse Acknowledgement, IReadOnlyList<string> SkippedUids);
