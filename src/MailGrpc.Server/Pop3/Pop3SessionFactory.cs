using System.Net;
using System.Net.Sockets;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Network;
using MailGrpc.Server.Telemetry;
using MailKit.Net.Pop3;
using MailKit.Security;
using Microsoft.Extensions.Options;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.Pop3;

/// <summary>
/// Opens authenticated POP3 sessions: lease first (one session per mailbox across replicas), then DNS through the SSRF
/// guard, TCP to an allowed address, TLS (implicit / STLS / none) checked against the system roots plus the extra CA,
/// and login with the mailbox's credential. A refused credential gets one renewal and one retry; a second refusal hands
/// the decision to the token layer (REAUTHORIZATION_REQUIRED). Any failure or cancellation closes the connection.
/// </summary>
internal sealed partial class Pop3SessionFactory(
    HostGuard hostGuard,
    IMailboxCredentials credentials,
    Pop3LeaseManager leases,
    ExtraTrust certificates,
    IOptions<Pop3Options> options,
    MailGrpcMetrics metrics,
    ILogger<Pop3SessionFactory> logger)
{
    private Pop3Options Pop3 => options.Value;

    /// <summary>Takes the mailbox's lease (waiting up to LeaseWait) and opens a session under it. The session releases the lease when disposed.</summary>
    public Task<Pop3Session> OpenAsync(MailboxRecord mailbox, CancellationToken cancellationToken) => OpenAsync(mailbox, null, cancellationToken);

    /// <summary>Takes the mailbox's lease, waiting up to <paramref name="leaseWait"/> (null: LeaseWait), and opens a session under it.</summary>
    public async Task<Pop3Session> OpenAsync(MailboxRecord mailbox, TimeSpan? leaseWait, CancellationToken cancellationToken)
    {
        var lease = await leases.AcquireAsync(mailbox.Tenant, mailbox.Id, leaseWait, cancellationToken);
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Lost);
            var client = await ConnectAndLoginAsync(mailbox, linked.Token);
            return new Pop3Session(client, ct => ConnectAndLoginAsync(mailbox, ct), lease, mailbox.Id, logger, metrics, cancellationToken);
        }
        catch
        {
            await lease.DisposeAsync();
            throw;
        }
    }

    /// <summary>Connects and logs in without a lease (the caller holds one, or is a diagnostic).</summary>
    public async Task<Pop3Client> ConnectAndLoginAsync(MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        var credential = await credentials.GetAsync(mailbox, cancellationToken);
        var (client, refusal) = await ConnectAndTryLoginAsync(mailbox, credential, cancellationToken);
        if (refusal is null)
        {
            return client!;
        }

        // [IN-USE], [SYS/TEMP], [SYS/PERM] and provider refusals that no new credential fixes: no refresh, nothing
        // recorded on the mailbox or its credential.
        if (refusal.Kind != LoginRefusalKind.Credential)
        {
            LogRefusedOther(logger, mailbox.Id, refusal.Reason);
            throw refusal.ToException();
        }

        LogRefused(logger, mailbox.Id, credential.Kind);
        credential = await WithHintAsync(() => credentials.RenewAfterRefusalAsync(mailbox, credential, cancellationToken), refusal);
        (client, refusal) = await ConnectAndTryLoginAsync(mailbox, credential, cancellationToken);
        if (refusal is null)
        {
            return client!;
        }

        if (refusal.Kind != LoginRefusalKind.Credential)
        {
            LogRefusedOther(logger, mailbox.Id, refusal.Reason);
            throw refusal.ToException();
        }

        LogRefusedAgain(logger, mailbox.Id, credential.Kind);
        throw await credentials.GiveUpAfterRefusalAsync(
            mailbox,
            ErrorReasons.Pop3CredentialRefused,
            "The POP3 server refused the mailbox's credential, also after a renewal. " + refusal.Explain,
            cancellationToken);
    }

    private async Task<(Pop3Client? Client, LoginRefusal? Refusal)> ConnectAndTryLoginAsync(MailboxRecord mailbox, Pop3Credential credential, CancellationToken cancellationToken)
    {
        var recorder = new LoginReplyRecorder();
        var client = await ConnectAsync(mailbox, recorder, cancellationToken);
        if (await TryLoginAsync(client, mailbox, credential, cancellationToken))
        {
            recorder.Stop();
            return (client, null);
        }

        var (refusal, _) = LoginReplyClassifier.Classify(recorder.LastErrorLine, mailbox.Provider, credential.Kind == Pop3CredentialKind.Password);
        return (null, refusal);
    }

    /// <summary>A refusal the token layer turns into FAILED_PRECONDITION keeps its reason; the provider's hint is added.</summary>
    private static async Task<Pop3Credential> WithHintAsync(Func<Task<Pop3Credential>> renewal, LoginRefusal refusal)
    {
        try
        {
            return await renewal();
        }
        catch (MailGrpcException ex) when (ex.Kind == ErrorKind.FailedPrecondition)
        {
            throw new MailGrpcException(ex.Kind, ex.Reason, ex.Message + " " + refusal.Explain, ex.Metadata, ex);
        }
    }

    // --- One trial login with a credential that is not stored yet (SetMailboxPassword, OAuth grants without an identity).

    /// <summary>
    /// Connects and logs in once with <paramref name="credential"/> under the mailbox's lease, then closes. False when the
    /// server refused the credential; connection failures throw as for any session.
    /// </summary>
    public async Task<bool> TryLoginOnceAsync(MailboxRecord mailbox, Pop3Credential credential, CancellationToken cancellationToken)
    {
        await using var lease = await leases.AcquireAsync(mailbox.Tenant, mailbox.Id, cancellationToken);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Lost);
        var recorder = new LoginReplyRecorder();
        var client = await ConnectAsync(mailbox, recorder, linked.Token);
        if (!await TryLoginAsync(client, mailbox, credential, linked.Token))
        {
            // [IN-USE], [SYS/TEMP] and the like say nothing about the credential: answer them as they are.
            var (refusal, _) = LoginReplyClassifier.Classify(recorder.LastErrorLine, mailbox.Provider, credential.Kind == Pop3CredentialKind.Password);
            if (refusal.Kind != LoginRefusalKind.Credential)
            {
                throw refusal.ToException();
            }

            return false;
        }

        // Closed without QUIT, like every session that deletes nothing: QUIT would enter POP3's UPDATE state, which Gmail
        // takes as "downloaded" (docs/setup/google.md).
        client.DisposeQuietly();
        return true;
    }

    private async Task<Pop3Client> ConnectAsync(MailboxRecord mailbox, LoginReplyRecorder? recorder, CancellationToken cancellationToken)
    {
        var addresses = await ResolveAsync(mailbox.Host, cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Pop3.ConnectTimeout);
        Socket? socket = null;
        Stream? stream = null;
        var client = new Pop3Client(recorder ?? (MailKit.IProtocolLogger)new MailKit.NullProtocolLogger())
        {
            Timeout = (int)Pop3.CommandTimeout.TotalMilliseconds,
            ServerCertificateValidationCallback = certificates.Validate,
            CheckCertificateRevocation = true,
        };
        try
        {
            socket = await ConnectSocketAsync(addresses, mailbox.Port, timeout.Token);
            stream = await OpenStreamAsync(socket, mailbox, timeout.Token);
            var security = mailbox.Security switch
            {
                Mailboxes.Pop3Security.Starttls => SecureSocketOptions.StartTls,
                Mailboxes.Pop3Security.None => SecureSocketOptions.None,
                _ => SecureSocketOptions.SslOnConnect,
            };
            await client.ConnectAsync(stream, mailbox.Host, mailbox.Port, security, timeout.Token);
            return client;
        }
        catch (Exception ex)
        {
            client.DisposeQuietly();
            if (stream is not null)
            {
                await stream.DisposeAsync();
            }

            socket?.Dispose();
            throw (stream as RecordingStream) is { } recorded && ex is not MailGrpcException && Pop3SecurityProbe.PlaintextInsteadOfTls(recorded, $"{mailbox.Host}:{mailbox.Port}") is { } mismatch
                ? mismatch
                : TranslateConnectFailure(ex, mailbox, cancellationToken);
        }
    }

    // --- Security-mode check (connect phase): a wrong `security` for the port is named within the first bytes. ---

    /// <summary>
    /// The stream MailKit connects over. Implicit TLS: a recorder of the server's first bytes, so a failed handshake can
    /// be told apart from a plaintext greeting. STARTTLS/none: the greeting is awaited here (bounded by
    /// <c>GreetingTimeout</c>, with the TLS check of <see cref="Pop3SecurityProbe"/>) and replayed to MailKit.
    /// </summary>
    private async Task<Stream> OpenStreamAsync(Socket socket, MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        var network = new NetworkStream(socket, ownsSocket: true);
        if (mailbox.Security is not (Mailboxes.Pop3Security.Starttls or Mailboxes.Pop3Security.None))
        {
            return new RecordingStream(network);
        }

        try
        {
            return await Pop3SecurityProbe.ReadGreetingAsync(
                network, (IPEndPoint)socket.RemoteEndPoint!, mailbox.Host, $"{mailbox.Host}:{mailbox.Port}", mailbox.Security,
                Pop3.GreetingTimeout, certificates.Validate, cancellationToken);
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
    }

    private async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        try
        {
            return await hostGuard.ResolveForConnectAsync(host, cancellationToken);
        }
        catch (SocketException ex)
        {
            throw new Pop3TransportException(Pop3TransportFailure.Connect, $"POP3 host '{host}' does not resolve.", ex);
        }
    }

    private static async Task<Socket> ConnectSocketAsync(IPAddress[] addresses, int port, CancellationToken cancellationToken)
    {
        if (addresses.Length == 0)
        {
            throw new SocketException((int)SocketError.HostNotFound);
        }

        Exception? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken);
                return socket;
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw last!;
    }

    private Exception TranslateConnectFailure(Exception ex, MailboxRecord mailbox, CancellationToken callCancelled)
    {
        var where = $"{mailbox.Host}:{mailbox.Port}";
        return ex switch
        {
            OperationCanceledException when callCancelled.IsCancellationRequested => ex,
            OperationCanceledException => new Pop3TransportException(Pop3TransportFailure.Timeout, $"Connecting to POP3 server {where} timed out after {Pop3.ConnectTimeout.TotalSeconds:0.#} s.", ex),
            SocketException => new Pop3TransportException(Pop3TransportFailure.Connect, $"Could not connect to POP3 server {where}.", ex),
            NotSupportedException => Failures.Pop3StartTlsUnsupported(where),
            IOException and not Pop3TransportException => new Pop3TransportException(Pop3TransportFailure.ConnectionLost, $"The connection to POP3 server {where} broke during connect.", ex),
            _ => ex,
        };
    }

    /// <summary>Logs in; false when the server refused the credential (the client is then disposed).</summary>
    private static async Task<bool> TryLoginAsync(Pop3Client client, MailboxRecord mailbox, Pop3Credential credential, CancellationToken cancellationToken)
    {
        try
        {
            await LoginAsync(client, mailbox, credential, cancellationToken);
            if (!client.Capabilities.HasFlag(Pop3Capabilities.UIDL))
            {
                throw Failures.Pop3UidlUnsupported();
            }

            return true;
        }
        catch (Exception ex) when (ex is AuthenticationException or Pop3ProtocolException && !cancellationToken.IsCancellationRequested && client.IsAuthenticated is false)
        {
            // A refused token answers with a '+ <error>' continuation that MailKit reports as a protocol error: refused too.
            client.DisposeQuietly();
            return false;
        }
        catch (Exception ex)
        {
            client.DisposeQuietly();
            if (ex is IOException and not Pop3TransportException || ex is SocketException)
            {
                throw new Pop3TransportException(Pop3TransportFailure.ConnectionLost, "The POP3 connection broke during login.", ex);
            }

            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new Pop3TransportException(Pop3TransportFailure.Timeout, "The POP3 login timed out.", ex);
            }

            throw;
        }
    }

    private static async Task LoginAsync(Pop3Client client, MailboxRecord mailbox, Pop3Credential credential, CancellationToken cancellationToken)
    {
        var offered = client.AuthenticationMechanisms;
        if (credential.Kind == Pop3CredentialKind.AccessToken)
        {
            SaslMechanism sasl = mailbox.Mechanism == Mailboxes.OAuthMechanism.Oauthbearer
                ? new SaslMechanismOAuthBearer(credential.Username, credential.Secret)
                : new XOAuth2Mechanism(credential.Username, credential.Secret);

            // Some servers list no SASL mechanisms before login; only refuse when the list exists and lacks ours.
            if (offered.Count > 0 && !offered.Contains(sasl.MechanismName))
            {
                throw Failures.Pop3AuthMechanismUnsupported(sasl.MechanismName, offered);
            }

            await client.AuthenticateAsync(sasl, cancellationToken);
            return;
        }

        if (offered.Contains("PLAIN"))
        {
            await client.AuthenticateAsync(new SaslMechanismPlain(credential.Username, credential.Secret), cancellationToken);
        }
        else
        {
            // USER/PASS (or APOP) through MailKit's own choice; OAuth mechanisms are never picked for a password.
            await client.AuthenticateAsync(new NetworkCredential(credential.Username, credential.Secret), cancellationToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "POP3 server refused the {Kind} of mailbox {MailboxId}; renewing once")]
    private static partial void LogRefused(ILogger logger, string mailboxId, Pop3CredentialKind kind);

    [LoggerMessage(Level = LogLevel.Information, Message = "POP3 server refused the login of mailbox {MailboxId} for a reason a new credential does not fix: {Reason}")]
    private static partial void LogRefusedOther(ILogger logger, string mailboxId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "POP3 server refused the renewed {Kind} of mailbox {MailboxId}")]
    private static partial void LogRefusedAgain(ILogger logger, string mailboxId, Pop3CredentialKind kind);
}
