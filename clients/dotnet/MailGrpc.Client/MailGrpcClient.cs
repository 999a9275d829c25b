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

    private readonly GrpcChannel? _channel;

    /// <summary>Creates a client and its own channel (without dependency injection; dispose it to close the channel).</summary>
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

        var channelOptions = new GrpcChannelOptions { HttpHandler = CreateHandler(options), DisposeHttpClient = true };
        ConfigureChannel(channelOptions, options);
        _channel = GrpcChannel.ForAddress(options.Address!, channelOptions);
        var invoker = _channel.Intercept(CreateInterceptors(options, TimeProvider.System));
        Mailboxes = new MailboxService.MailboxServiceClient(invoker);
        Authorization = new AuthorizationService.AuthorizationServiceClient(invoker);
        Messages = new MessageService.MessageServiceClient(invoker);
    }

    /// <summary>
    /// Wraps generated clients that already carry the API key, deadlines, retries and error translation (what
    /// <c>services.AddMailGrpcClient(...)</c> registers through Grpc.Net.ClientFactory).
    /// </summary>
    /// <param name="mailboxes">The MailboxService client.</param>
    /// <param name="authorization">The AuthorizationService client.</param>
    /// <param name="messages">The MessageService client.</param>
    public MailGrpcClient(MailboxService.MailboxServiceClient mailboxes, AuthorizationService.AuthorizationServiceClient authorization, MessageService.MessageServiceClient messages)
    {
        Mailboxes = mailboxes ?? throw new ArgumentNullException(nameof(mailboxes));
        Authorization = authorization ?? throw new ArgumentNullException(nameof(authorization));
        Messages = messages ?? throw new ArgumentNullException(nameof(messages));
    }

    /// <summary>The generated client of <c>MailboxService</c> (register, read, update, delete, diagnose mailboxes).</summary>
    public MailboxService.MailboxServiceClient Mailboxes { get; }

    /// <summary>The generated client of <c>AuthorizationService</c> (OAuth flows, passwords, status, revocation).</summary>
    public AuthorizationService.AuthorizationServiceClient Authorization { get; }

    /// <summary>The generated client of <c>MessageService</c> (raw frames; prefer the methods below for content).</summary>
    public MessageService.MessageServiceClient Messages { get; }

    /// <summary>Every mailbox of the caller's tenant, fetching pages of <paramref name="pageSize"/> as the caller iterates.</summary>
    /// <param name="pageSize">Mailboxes per page (0: the server's default of 50).</param>
    /// <param name="cancellationToken">Cancels the current page's call and the iteration.</param>
    /// <returns>The mailboxes, ordered by id.</returns>
    /// <exception cref="MailGrpcException">The server refused a page.</exception>
    public IAsyncEnumerable<Mailbox> ListMailboxesAsync(int pageSize = 0, CancellationToken cancellationToken = default)
    {
        var request = new ListMailboxesRequest { PageSize = pageSize };
        return PagesAsync<Mailbox>(
            async token =>
            {
                var page = await Mailboxes.ListMailboxesAsync(request, cancellationToken: token).ConfigureAwait(false);
                request.PageToken = page.NextPageToken;
                return (page.Mailboxes, page.NextPageToken);
            },
            cancellationToken);
    }

    /// <summary>Every message of a mailbox (uid, size; headers when asked), a page at a time as the caller iterates.</summary>
    /// <param name="request">Mailbox, page size, headers, consumer; its page token is advanced here.</param>
    /// <param name="cancellationToken">Cancels the current page's call and the iteration.</param>
    /// <returns>The messages in server order.</returns>
    /// <exception cref="MailGrpcException">The server refused a page.</exception>
    public IAsyncEnumerable<MessageInfo> ListMessagesAsync(ListMessagesRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        request = request.Clone();
        return PagesAsync<MessageInfo>(
            async token =>
            {
                var page = await Messages.ListMessagesAsync(request, cancellationToken: token).ConfigureAwait(false);
                request.PageToken = page.NextPageToken;
                return (page.Messages, page.NextPageToken);
            },
            cancellationToken);
    }

    // One page loop for every paginated RPC (AIP-158): fetch, yield the page's items, stop at an empty next_page_token.
    private static async IAsyncEnumerable<T> PagesAsync<T>(
        Func<CancellationToken, Task<(IEnumerable<T> Items, string NextPageToken)>> nextPage,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string token;
        do
        {
            var (items, next) = await nextPage(cancellationToken).ConfigureAwait(false);
            foreach (var item in items)
            {
                yield return item;
            }

            token = next;
        }
        while (token.Length > 0);
    }

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
    public void Dispose() => _channel?.Dispose();

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

    /// <summary>The call pipeline: errors become <see cref="MailGrpcException"/>; the API key and default deadlines are added.</summary>
    internal static Interceptor[] CreateInterceptors(MailGrpcClientOptions options, TimeProvider time) =>
        [new ErrorTranslationInterceptor(), new CallDefaultsInterceptor(options.ApiKey!, options.UnaryDeadline, options.StreamDeadline, time)];

    /// <summary>Retries (the service config) and message size limits, for both ways of creating the channel.</summary>
    internal static void ConfigureChannel(GrpcChannelOptions channel, MailGrpcClientOptions options)
    {
        channel.ServiceConfig = CreateServiceConfig(options.MaxAttempts);
        // Chunks are at most 64 KiB; the default 4 MB limit leaves room for large envelopes and pages.
        channel.MaxReceiveMessageSize = 16 * 1024 * 1024;
    }

    internal static SocketsHttpHandler CreateHandler(MailGrpcClientOptions options)
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
