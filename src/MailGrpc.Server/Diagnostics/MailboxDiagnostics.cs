using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Network;
using MailGrpc.Server.Pop3;
using MailGrpc.Server.Telemetry;
using MailKit;
using MailKit.Net.Pop3;
using MailKit.Security;
using StoredCredentialKind = MailGrpc.Server.Authorization.Secrets.CredentialKind;
using TlsAuthenticationException = System.Security.Authentication.AuthenticationException;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Diagnostics;

/// <summary>
/// DiagnoseMailbox: DNS, TCP, TLS, CAPA, TOKEN, AUTH and STAT, each run on its own and reported with a reason and a
/// fix. After the first failed step the rest are SKIPPED. Uses its own sockets and its own MailKit client (never the
/// shared POP3 session code), so a diagnosis shows each layer separately and never takes the mailbox's lease.
/// </summary>
internal sealed partial class MailboxDiagnostics(
    MailboxRepository mailboxes,
    HostGuard hostGuard,
    ExtraTrust extraTrust,
    IServiceProvider services,
    IOptions<DiagnosticsOptions> diagnosticsOptions,
    IOptions<Pop3Options> pop3Options,
    MailGrpcMetrics metrics,
    TimeProvider time,
    ILogger<MailboxDiagnostics> logger)
{
    private static readonly DiagnosticStepKind[] Order =
    [
        DiagnosticStepKind.Dns, DiagnosticStepKind.Tcp, DiagnosticStepKind.Tls, DiagnosticStepKind.Capa,
        DiagnosticStepKind.Token, DiagnosticStepKind.Auth, DiagnosticStepKind.Stat,
    ];

    public async Task<MailboxDiagnosis> DiagnoseAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var mailbox = await mailboxes.GetAsync(tenant, mailboxId, cancellationToken)
            ?? throw Failures.MailboxNotFound(mailboxId);
        using var activity = MailGrpcMetrics.ActivitySource.StartActivity("DiagnoseMailbox");
        await using var run = new Run(mailbox, new HintContext(mailbox.Provider, Host: mailbox.Host));

        var steps = new List<DiagnosticStep>(Order.Length);
        var bounds = diagnosticsOptions.Value;

        // The whole diagnosis is bounded, and so is each step: a silent port or a slow provider cannot hold the call.
        using var overall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        overall.CancelAfter(bounds.Timeout);
        var failed = false;
        var outOfTime = false;
        foreach (var kind in Order)
        {
            DiagnosticStep step;
            if (failed || outOfTime)
            {
                step = new DiagnosticStep
                {
                    Kind = kind,
                    Outcome = DiagnosticOutcome.Skipped,
                    Detail = failed ? "Not run: an earlier step failed." : $"Not run: the diagnosis reached its {bounds.Timeout.TotalSeconds:0.#} s bound (MailGrpc:Diagnostics:Timeout).",
                    Duration = TimeSpan.Zero,
                };
            }
            else
            {
                var started = time.GetTimestamp();
                using var stepBound = CancellationTokenSource.CreateLinkedTokenSource(overall.Token);
                stepBound.CancelAfter(bounds.StepTimeout);
                step = await RunStepAsync(kind, run, stepBound.Token, cancellationToken);
                step = step with { Kind = kind, Duration = time.GetElapsedTime(started) };
                failed = step.Outcome == DiagnosticOutcome.Failed;
                outOfTime = overall.IsCancellationRequested;
                metrics.DiagnosticStepCompleted(kind.ToString(), step.Outcome.ToString(), step.Reason);
                LogStep(logger, kind, step.Outcome, step.Reason);
            }

            steps.Add(step);
        }

        return new MailboxDiagnosis(steps, Healthy: !failed && !outOfTime);
    }

    private async Task<DiagnosticStep> RunStepAsync(DiagnosticStepKind kind, Run run, CancellationToken cancellationToken, CancellationToken callCancelled)
    {
        try
        {
            return kind switch
            {
                DiagnosticStepKind.Dns => await DnsAsync(run, cancellationToken),
                DiagnosticStepKind.Tcp => await TcpAsync(run, cancellationToken),
                DiagnosticStepKind.Tls => await TlsAsync(run, cancellationToken),
                DiagnosticStepKind.Capa => await CapaAsync(run, cancellationToken),
                DiagnosticStepKind.Token => await TokenAsync(run, cancellationToken),
                DiagnosticStepKind.Auth => await AuthAsync(run, cancellationToken),
                DiagnosticStepKind.Stat => await StatAsync(run, cancellationToken),
                _ => throw new ArgumentOutOfRangeException(nameof(kind)),
            };
        }
        catch (Exception e) when (!callCancelled.IsCancellationRequested && (e is OperationCanceledException || (cancellationToken.IsCancellationRequested && e is IOException or MailKit.ServiceNotConnectedException)))
        {
            // The step's own bound (or the diagnosis's) ran out: a reason per step, never "the provider did not answer" for a POP3 step.
            var (reason, hint) = CredentialHints.Timeout(kind);
            // Name the server, as every other step's detail does (the host passed validation, so it is bounded).
            var target = kind == DiagnosticStepKind.Dns ? $"resolving '{run.Mailbox.Host}'" : $"with {run.Mailbox.Host}:{run.Mailbox.Port}";
            return Failed(reason, $"The {kind.ToString().ToUpperInvariant()} step ({target}) did not finish within its bound (MailGrpc:Diagnostics:StepTimeout / Timeout).", hint);
        }
    }

    private async Task<DiagnosticStep> DnsAsync(Run run, CancellationToken cancellationToken)
    {
        try
        {
            run.Addresses = await hostGuard.ResolveForConnectAsync(run.Mailbox.Host, cancellationToken);
        }
        catch (SocketException e)
        {
            return Failed(DiagnosticHints.HostNotFound, $"'{run.Mailbox.Host}' does not resolve ({e.SocketErrorCode}).", "Check the host name for typos (Microsoft: outlook.office365.com, Google: pop.gmail.com) and that the server's DNS resolves it.");
        }
        catch (MailGrpcException e) when (e.Reason == ErrorReasons.HostNotAllowed)
        {
            return Failed(DiagnosticHints.HostNotAllowed, e.Message, "The host resolves to a private, loopback or metadata address, which MailGrpc refuses by default. For an on-premises server, list it in MailGrpc:Network:AllowedHosts.");
        }

        return Ok($"{run.Mailbox.Host} → {string.Join(", ", run.Addresses.Select(a => a.ToString()))}");
    }

    private async Task<DiagnosticStep> TcpAsync(Run run, CancellationToken cancellationToken)
    {
        SocketException? last = null;
        foreach (var address in run.Addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(pop3Options.Value.ConnectTimeout);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, run.Mailbox.Port), timeout.Token);
                run.Socket = socket;
                return Ok($"Connected to {address}:{run.Mailbox.Port}.");
            }
            catch (SocketException e)
            {
                last = e;
                socket.Dispose();
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                return Failed(DiagnosticHints.ConnectTimeout, $"No answer from {address}:{run.Mailbox.Port} within {pop3Options.Value.ConnectTimeout.TotalSeconds:0} s.", "A firewall drops the connection, or the port is wrong. POP3 is 995 (implicit TLS) or 110 (STARTTLS); allow egress to it.");
            }
        }

        return last?.SocketErrorCode == SocketError.ConnectionRefused
            ? Failed(DiagnosticHints.ConnectionRefused, $"{run.Mailbox.Host}:{run.Mailbox.Port} refused the connection.", "Nothing listens on that port: check the port (995 for implicit TLS, 110 for STARTTLS) and the mailbox's security setting.")
            : Failed(DiagnosticHints.NetworkUnreachable, $"Could not connect to {run.Mailbox.Host}:{run.Mailbox.Port} ({last?.SocketErrorCode}).", "The network path to the server is blocked; check egress rules (Kubernetes NetworkPolicy, cloud firewall).");
    }

    private async Task<DiagnosticStep> TlsAsync(Run run, CancellationToken cancellationToken)
    {
        var security = run.Mailbox.Security;
        var where = $"{run.Mailbox.Host}:{run.Mailbox.Port}";
        var network = new NetworkStream(run.Socket!, ownsSocket: true);
        run.Stream = network;
        Stream transport;
        if (security is Pop3Security.None or Pop3Security.Starttls)
        {
            // The greeting first, bounded on its own; a port that answers a TLS handshake instead is named at once.
            try
            {
                transport = await Pop3SecurityProbe.ReadGreetingAsync(
                    network, (IPEndPoint)run.Socket!.RemoteEndPoint!, run.Mailbox.Host, where, security,
                    pop3Options.Value.GreetingTimeout, (_, certificate, chain, errors) => ValidateCertificate(certificate, chain, errors), cancellationToken);
            }
            catch (MailGrpcException e) when (e.Reason == ErrorReasons.Pop3SecurityMismatch)
            {
                return Failed(CredentialHints.SecurityMismatch, e.Message, SecurityFix(e.Metadata["use"], security));
            }
            catch (Pop3TransportException e) when (e.Failure == Pop3TransportFailure.Timeout)
            {
                return Failed(CredentialHints.GreetingTimeout, e.Message, "The server accepted the connection but sent no POP3 greeting and does not speak TLS either: check host and port.");
            }
            catch (Pop3TransportException e)
            {
                return Failed(DiagnosticHints.NotPop3, e.Message, "The server closed the connection without a POP3 greeting. Check host and port.");
            }

            run.Stream = transport;
            if (security == Pop3Security.None)
            {
                return new DiagnosticStep { Outcome = DiagnosticOutcome.Warning, Reason = DiagnosticHints.TlsNotUsed, Detail = "The mailbox is set to no TLS: the credential crosses the network in clear.", Hint = "Use implicit TLS (port 995) or STARTTLS (port 110) unless the server is on a trusted local network." };
            }
        }
        else
        {
            transport = new RecordingStream(network);
            run.Stream = transport;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(pop3Options.Value.ConnectTimeout);
        if (security == Pop3Security.Starttls)
        {
            // STLS by hand: the greeting, then STLS, then the handshake on the same connection.
            run.Greeting = await ReadLineAsync(transport, timeout.Token);
            await transport.WriteAsync("STLS\r\n"u8.ToArray(), timeout.Token);
            var reply = await ReadLineAsync(transport, timeout.Token);
            if (!reply.StartsWith("+OK", StringComparison.Ordinal))
            {
                return Failed(DiagnosticHints.StartTlsNotOffered, $"STLS was answered with '{reply}'.", "The server does not offer STARTTLS on this port. Use implicit TLS on port 995, or fix the server's TLS setup.");
            }
        }

        var policyErrors = SslPolicyErrors.None;
        string? subject = null;
        var ssl = new SslStream(transport, leaveInnerStreamOpen: false, (_, certificate, chain, errors) =>
        {
            policyErrors = errors;
            subject = certificate?.Subject;
            return ValidateCertificate(certificate, chain, errors);
        });
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = run.Mailbox.Host }, timeout.Token);
        }
        catch (Exception e) when (e is TlsAuthenticationException or IOException)
        {
            if (transport is RecordingStream recorded && Pop3SecurityProbe.PlaintextInsteadOfTls(recorded, where) is { } mismatch)
            {
                return Failed(CredentialHints.SecurityMismatch, mismatch.Message, SecurityFix(mismatch.Metadata["use"], security));
            }

            if (policyErrors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            {
                return Failed(DiagnosticHints.TlsNameMismatch, $"The server's certificate ({subject}) is not valid for '{run.Mailbox.Host}'.", "The host name does not match the certificate: use the name the certificate is issued for (e.g. outlook.office365.com, not an alias or an IP address), or fix the server's certificate.");
            }

            if (policyErrors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
            {
                return Failed(DiagnosticHints.TlsUntrusted, $"The server's certificate ({subject}) does not chain to a trusted root.", "For a private CA, set MailGrpc:Tls:ExtraTrustedCaFile to its PEM file; otherwise the server's certificate is self-signed or expired.");
            }

            return Failed(DiagnosticHints.TlsHandshakeFailed, e.Message, "The TLS handshake failed: the server only offers protocol versions or ciphers this host refuses, or something between rewrites the connection.");
        }

        run.Stream = ssl;
        return Ok($"{ssl.SslProtocol}, certificate {ssl.RemoteCertificate?.Subject}, valid for {run.Mailbox.Host}.");
    }

    private static string SecurityFix(string use, Pop3Security configured) =>
        $"Set the mailbox's server.security to {use} (UpdateMailbox with update_mask \"server.security\"), or keep {Pop3SecurityProbe.Name(configured)} and use the server's port for it (995 is implicit TLS, 110 STARTTLS).";

    private async Task<DiagnosticStep> CapaAsync(Run run, CancellationToken cancellationToken)
    {
        var client = new Pop3Client(run.ServerReplies) { Timeout = (int)pop3Options.Value.CommandTimeout.TotalMilliseconds };
        run.Client = client;
        try
        {
            if (run.Mailbox.Security == Pop3Security.Starttls)
            {
                // The TLS step consumed the greeting; MailKit needs its own, so the CAPA step opens a fresh connection.
                await run.Stream!.DisposeAsync();
                run.Stream = null;
                client.ServerCertificateValidationCallback = (_, certificate, chain, errors) => ValidateCertificate(certificate, chain, errors);
                var socket = new Socket(run.Addresses[0].AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(new IPEndPoint(run.Addresses[0], run.Mailbox.Port), cancellationToken);
                await client.ConnectAsync(socket, run.Mailbox.Host, run.Mailbox.Port, SecureSocketOptions.StartTls, cancellationToken);
            }
            else
            {
                await client.ConnectAsync(run.Stream!, run.Mailbox.Host, run.Mailbox.Port, SecureSocketOptions.None, cancellationToken);
            }
        }
        catch (Exception e) when (e is Pop3ProtocolException or Pop3CommandException or IOException or SslHandshakeException)
        {
            return Failed(DiagnosticHints.NotPop3, $"No POP3 greeting: {e.Message}", "Something other than a POP3 server answers on this port, or it closed the connection. Check host and port.");
        }

        var mechanisms = client.AuthenticationMechanisms.ToList();
        var detail = $"Capabilities: {client.Capabilities}; SASL: {(mechanisms.Count == 0 ? "none advertised" : string.Join(' ', mechanisms))}.";
        if (run.Mailbox.AuthKind == MailboxAuthKind.OAuth)
        {
            var wanted = run.Mailbox.Mechanism == OAuthMechanism.Oauthbearer ? "OAUTHBEARER" : "XOAUTH2";
            if (!mechanisms.Contains(wanted, StringComparer.OrdinalIgnoreCase))
            {
                var alternative = wanted == "XOAUTH2" ? "OAUTHBEARER" : "XOAUTH2";
                var hint = mechanisms.Contains(alternative, StringComparer.OrdinalIgnoreCase)
                    ? $"The server offers {alternative} instead: set the mailbox's auth_method mechanism to {alternative}."
                    : "The server does not accept OAuth logins on POP3. Check the host (Microsoft: outlook.office365.com, Google: pop.gmail.com); for Dovecot, add xoauth2/oauthbearer to auth_mechanisms with an oauth2 passdb.";
                return Failed(wanted == "XOAUTH2" ? DiagnosticHints.Xoauth2NotOffered : DiagnosticHints.OAuthBearerNotOffered, detail, hint);
            }
        }
        else if (mechanisms.Count > 0 && !mechanisms.Any(m => m is "PLAIN" or "LOGIN") && !client.Capabilities.HasFlag(Pop3Capabilities.User))
        {
            return Failed(DiagnosticHints.PasswordLoginNotOffered, detail, "The server accepts no password login (USER/PASS, PLAIN or LOGIN). Use OAuth for this mailbox.");
        }

        return Ok(detail);
    }

    private async Task<DiagnosticStep> TokenAsync(Run run, CancellationToken cancellationToken)
    {
        var credentials = services.GetService<IMailboxCredentials>();
        if (credentials is null)
        {
            return Failed(DiagnosticHints.CredentialsUnavailable, "This server has no credential store wired in.", "The token layer is not configured on this server build.");
        }

        // App-only or delegated is what was stored, not what the token looks like.
        run.Context = run.Context with { AppOnly = await StoredCredentialIsAppOnlyAsync(run.Mailbox, cancellationToken) };
        try
        {
            run.Credential = await credentials.GetAsync(run.Mailbox, cancellationToken);
        }
        catch (MailGrpcException e)
        {
            var finding = CredentialHints.ClassifyTokenFailure(e, run.Mailbox, run.Context)
                ?? DiagnosticHints.ClassifyTokenError($"{e.Reason} {e.Message} {run.Mailbox.LastErrorReason} {run.Mailbox.LastErrorMessage}", run.Context);
            var cause = string.IsNullOrEmpty(run.Mailbox.LastErrorReason) || run.Mailbox.LastErrorReason == e.Reason ? string.Empty : $" (recorded cause: {run.Mailbox.LastErrorReason})";
            return Failed(finding.Reason, $"{e.Reason}: {e.Message}{cause}", finding.Hint);
        }

        if (run.Credential.Kind == Pop3CredentialKind.Password)
        {
            return Ok("A password is stored.");
        }

        var claims = AccessTokenClaims.TryRead(run.Credential.Secret);
        var expiresAt = run.Credential.ExpiresAt ?? claims?.ExpiresAt;
        var remaining = expiresAt - time.GetUtcNow();
        var detail = $"Access token for {run.Credential.Username}" +
            (expiresAt is { } at ? $", expires {at:u} (in {remaining!.Value.TotalMinutes:0} min)" : ", expiry unknown") +
            (claims is null ? string.Empty : $", {(run.Context.AppOnly ? "app-only roles" : "scopes")}: {string.Join(' ', claims.Permissions)}") + ".";
        if (remaining is { } left && left <= TimeSpan.Zero)
        {
            return Failed(DiagnosticHints.TokenExpired, detail, "The access token has expired and was not refreshed: check that the mailbox has a refresh token (offline_access) and look at GetAuthorizationStatus's last error.");
        }

        if (run.Mailbox.Provider == MailboxProvider.Microsoft && claims is { } c && !c.Permissions.Any(p => p.Contains("POP.AccessAs", StringComparison.OrdinalIgnoreCase)))
        {
            if (run.Context.AppOnly)
            {
                return Failed(CredentialHints.AdminConsentMissing, detail, "The app-only token carries no POP.AccessAsApp role: admin consent was never granted. Add the application permission POP.AccessAsApp (Office 365 Exchange Online) and grant admin consent, then AuthorizeWithClientCredentials again.");
            }

            return Failed(DiagnosticHints.ScopeMissing, detail, c.AppOnly
                ? "The token has app-only roles but the mailbox holds a delegated credential: authorize it again with BeginAuthorization."
                : "The token lacks https://outlook.office.com/POP.AccessAsUser.All: add it to the OAuth client's Scopes and the app registration's delegated permissions, then authorize again.");
        }

        return remaining is { } soon && soon < TimeSpan.FromMinutes(2)
            ? new DiagnosticStep { Outcome = DiagnosticOutcome.Warning, Reason = DiagnosticHints.TokenExpiresSoon, Detail = detail, Hint = "The token expires within minutes and will be refreshed at the next login." }
            : Ok(detail);
    }

    private static async Task<DiagnosticStep> AuthAsync(Run run, CancellationToken cancellationToken)
    {
        var credential = run.Credential!;
        var client = run.Client!;
        run.ServerReplies.Clear();
        try
        {
            if (credential.Kind == Pop3CredentialKind.Password)
            {
                await client.AuthenticateAsync(credential.Username, credential.Secret, cancellationToken);
            }
            else if (run.Mailbox.Mechanism == OAuthMechanism.Oauthbearer)
            {
                await client.AuthenticateAsync(new SaslMechanismOAuthBearer(credential.Username, credential.Secret), cancellationToken);
            }
            else
            {
                // Answers Gmail's error challenge with the empty response, so the final -ERR reason is read.
                await client.AuthenticateAsync(new Pop3.XOAuth2Mechanism(credential.Username, credential.Secret), cancellationToken);
            }
        }
        catch (Exception e) when (e is MailKit.Security.AuthenticationException or Pop3ProtocolException or Pop3CommandException)
        {
            // MailKit leaves the connection mid-AUTH when a token is refused; it is discarded with the run. Its exception
            // text is generic ("Authentication failed"): the server's own reply (e.g. Dovecot's "-ERR [IN-USE] ...") is only
            // in the protocol log, so the hint is chosen from that.
            var reply = run.ServerReplies.LastErrorLine;
            var finding = DiagnosticHints.ClassifyAuthError($"{e.Message} {reply}", run.Context, credential.Kind == Pop3CredentialKind.Password);
            if (finding.Reason == DiagnosticHints.PasswordRefused)
            {
                finding = CredentialHints.Pop3Refusal(run.Context, password: true);
            }

            return Failed(finding.Reason, $"Login as {credential.Username} refused: {e.Message}{(reply is null ? string.Empty : $" (server: {reply})")}", finding.Hint);
        }

        return Ok($"Logged in as {credential.Username} with {(credential.Kind == Pop3CredentialKind.Password ? "a password" : run.Mailbox.Mechanism == OAuthMechanism.Oauthbearer ? "OAUTHBEARER" : "XOAUTH2")}.");
    }

    private static async Task<DiagnosticStep> StatAsync(Run run, CancellationToken cancellationToken)
    {
        var client = run.Client!;
        try
        {
            var count = await client.GetMessageCountAsync(cancellationToken);

            // Size and Capabilities need a connected client: read them before QUIT.
            var detail = $"{count} message(s), {client.Size} bytes; capabilities after login: {client.Capabilities}.";
            await client.DisconnectAsync(true, cancellationToken);
            return Ok(detail);
        }
        catch (Exception e) when (e is Pop3CommandException or Pop3ProtocolException or IOException)
        {
            var finding = DiagnosticHints.ClassifyStatError(e.Message);
            return Failed(finding.Reason, e.Message, finding.Hint);
        }
    }

    // App-only (client credentials) tokens change the hints: they are read from the stored credential, not the API status.
    private async Task<bool> StoredCredentialIsAppOnlyAsync(MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        if (services.GetService<CredentialStore>() is not { } credentials)
        {
            return false;
        }

        try
        {
            var loaded = await credentials.GetAsync(mailbox.Tenant, mailbox.Id, cancellationToken);
            return loaded?.Credential.Kind == StoredCredentialKind.AppOnly;
        }
        catch (MailGrpcException)
        {
            return false;
        }
    }

    // The same rule as POP3 sessions: only chain errors may be forgiven, and only by MailGrpc:Tls:ExtraTrustedCaFile.
    private bool ValidateCertificate(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors) =>
        extraTrust.Validate(null, certificate, chain, errors);

    private static async Task<string> ReadLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        var buffer = new byte[1];
        while (line.Length < 1024 && await stream.ReadAsync(buffer, cancellationToken) == 1)
        {
            if (buffer[0] == '\n')
            {
                break;
            }

            if (buffer[0] != '\r')
            {
                line.Append((char)buffer[0]);
            }
        }

        return line.ToString();
    }

    private static DiagnosticStep Ok(string detail) => new() { Outcome = DiagnosticOutcome.Ok, Detail = detail };

    private static DiagnosticStep Failed(string reason, string detail, string hint) =>
        new() { Outcome = DiagnosticOutcome.Failed, Reason = reason, Detail = detail, Hint = hint };

    [LoggerMessage(Level = LogLevel.Information, Message = "Diagnose step {Step}: {Outcome} {Reason}")]
    private static partial void LogStep(ILogger logger, DiagnosticStepKind step, DiagnosticOutcome outcome, string reason);

    /// <summary>What the steps hand on to each other; disposes the connection at the end.</summary>
    private sealed class Run(MailboxRecord mailbox, HintContext context) : IAsyncDisposable
    {
        public MailboxRecord Mailbox { get; } = mailbox;

        public HintContext Context { get; set; } = context;

        public IPAddress[] Addresses { get; set; } = [];

        public Socket? Socket { get; set; }

        public Stream? Stream { get; set; }

        public string? Greeting { get; set; }

        public Pop3Client? Client { get; set; }

        public LoginReplyRecorder ServerReplies { get; } = new();

        public Pop3Credential? Credential { get; set; }

        public async ValueTask DisposeAsync()
        {
            Client?.Dispose();
            if (Stream is not null)
            {
                await Stream.DisposeAsync();
            }
            else
            {
                Socket?.Dispose();
            }
        }
    }
}

/// <summary>The unverified claims of a JWT access token, read only to explain it (never to trust it).</summary>
internal sealed record AccessTokenClaims(DateTimeOffset? ExpiresAt, IReadOnlyList<string> Permissions, bool AppOnly)
{
    public static AccessTokenClaims? TryRead(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3)
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1]));
            var root = json.RootElement;
            DateTimeOffset? exp = root.TryGetProperty("exp", out var e) && e.TryGetInt64(out var seconds) ? DateTimeOffset.FromUnixTimeSeconds(seconds) : null;
            var scopes = (root.TryGetProperty("scp", out var scp) || root.TryGetProperty("scope", out scp)) && scp.ValueKind == JsonValueKind.String
                ? scp.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                : [];
            var roles = root.TryGetProperty("roles", out var r) && r.ValueKind == JsonValueKind.Array
                ? r.EnumerateArray().Select(x => x.GetString() ?? string.Empty).ToArray()
                : [];
            return new AccessTokenClaims(exp, [.. scopes, .. roles], roles.Length > 0 && scopes.Length == 0);
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            return null;
        }
    }
}
