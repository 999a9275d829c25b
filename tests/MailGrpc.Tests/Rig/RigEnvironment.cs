using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailGrpc.Tests.Infrastructure;
using MailKit;
using MailKit.Net.Pop3;
using MailKit.Security;

namespace MailGrpc.Tests.Rig;

/// <summary>
/// The collection every test that needs the real local rig (Redis, OAuth server, Dovecot POP3) joins:
/// <c>[Collection("rig")]</c>. The tests of one collection run one after another.
/// </summary>
[CollectionDefinition("rig")]
public sealed class RigCollectionDefinition : ICollectionFixture<RigEnvironment>;

/// <summary>
/// The running test rig started by <c>tests/rig/up.sh</c>, read from <c>$MAILGRPC_RIG_DIR/rig.json</c>
/// (default <c>/tmp/mailgrpc-rig</c>), with helpers to seed mailboxes, add app-password users, mint tokens and drive
/// the OAuth server's admin API. Construction fails with a message naming the fix when the rig is not up: tests
/// never skip for lack of it.
/// </summary>
public sealed class RigEnvironment : IDisposable
{
    public const string DefaultDirectory = RigSettings.DefaultDirectory;

    /// <summary>The domain of the users tests invent; any name works, Dovecot accepts every user.</summary>
    public const string UserDomain = "rig.test";

    private static long s_deliveries;
    private readonly X509Certificate2 _ca;
    private readonly HttpClient _http;

    public RigEnvironment()
    {
        Directory = RigSettings.Directory;
        var file = RigSettings.JsonFile;
        if (!File.Exists(file))
        {
            throw new InvalidOperationException(
                $"The MailGrpc test rig is not running: {file} does not exist. Start it with tests/rig/up.sh " +
                "(MAILGRPC_RIG_DIR selects another run dir).");
        }

        Values = RigSettings.Values;

        Redis = Get("REDIS");
        OAuthIssuer = new Uri(Get("OAUTH_ISSUER"));
        OAuthAdmin = new Uri(Get("OAUTH_ADMIN").TrimEnd('/') + "/");
        CaFile = Get("CA_FILE");
        Pop3Host = Get("POP3_HOST");
        Pop3Port = GetInt("POP3_PORT");
        Pop3sPort = GetInt("POP3S_PORT");
        Pop3sWrongNamePort = GetInt("POP3S_WRONGNAME_PORT");
        WrongCertificateName = Get("POP3S_WRONGNAME_CERT_NAME");
        MailRoot = Get("MAIL_ROOT");
        MailUid = GetInt("MAIL_UID");
        MailGid = GetInt("MAIL_GID");
        PasswdDirectory = Get("PASSWD_DIR");
        LogDirectory = Get("LOG_DIR");
        ClientId = Get("OAUTH_CLIENT_ID");
        ClientSecret = Get("OAUTH_CLIENT_SECRET");
        PublicClientId = Get("OAUTH_PUBLIC_CLIENT_ID");
        AppClientId = Get("OAUTH_APP_CLIENT_ID");
        AppClientSecret = Get("OAUTH_APP_CLIENT_SECRET");
        AppEmail = Get("OAUTH_APP_EMAIL");

        var down = new List<string>();
        var redisPort = int.Parse(Redis[(Redis.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
        foreach (var (name, port) in new[]
                 {
                     ("Redis", redisPort), ("OAuth server", OAuthIssuer.Port), ("POP3", Pop3Port), ("POP3S", Pop3sPort),
                     ("POP3S wrong-name", Pop3sWrongNamePort),
                 })
        {
            if (!PortAnswers(port))
            {
                down.Add($"{name} (127.0.0.1:{port})");
            }
        }

        if (down.Count > 0)
        {
            throw new InvalidOperationException(
                $"The MailGrpc test rig in {Directory} is not fully up; not answering: {string.Join(", ", down)}. " +
                "Run tests/rig/up.sh (it restarts what died).");
        }

        _ca = X509CertificateLoader.LoadCertificateFromFile(CaFile);
        _http = CreateHttpClient(allowAutoRedirect: true);
    }

    /// <summary>The run dir (MAILGRPC_RIG_DIR).</summary>
    public string Directory { get; }

    /// <summary>Every key of rig.json as a string.</summary>
    public IReadOnlyDictionary<string, string> Values { get; }

    /// <summary>StackExchange.Redis configuration, e.g. <c>127.0.0.1:16379</c>.</summary>
    public string Redis { get; }

    /// <summary>The OAuth server's issuer, e.g. <c>https://127.0.0.1:18443</c> (discovery lives below it).</summary>
    public Uri OAuthIssuer { get; }

    /// <summary>Base of the admin API, e.g. <c>https://127.0.0.1:18443/__rig/</c>.</summary>
    public Uri OAuthAdmin { get; }

    public Uri TokenEndpoint => new(OAuthIssuer, "/token");

    public Uri AuthorizeEndpoint => new(OAuthIssuer, "/authorize");

    public Uri RevocationEndpoint => new(OAuthIssuer, "/revoke");

    public Uri IntrospectionEndpoint => new(OAuthIssuer, "/introspect");

    public Uri DeviceAuthorizationEndpoint => new(OAuthIssuer, "/device_authorization");

    public Uri DiscoveryDocument => new(OAuthIssuer, "/.well-known/openid-configuration");

    /// <summary>PEM file of the rig's run-time CA (signs every TLS certificate of the rig).</summary>
    public string CaFile { get; }

    /// <summary>A copy of the rig CA certificate; the caller owns it.</summary>
    public X509Certificate2 CaCertificate => X509CertificateLoader.LoadCertificate(_ca.RawData);

    public string Pop3Host { get; }

    /// <summary>POP3 with STLS (and plaintext logins allowed: the rig is loopback-only).</summary>
    public int Pop3Port { get; }

    /// <summary>POP3 over implicit TLS with a certificate for IP 127.0.0.1 and DNS localhost.</summary>
    public int Pop3sPort { get; }

    /// <summary>POP3 over implicit TLS whose certificate (signed by the rig CA) names only <see cref="WrongCertificateName"/>.</summary>
    public int Pop3sWrongNamePort { get; }

    public string WrongCertificateName { get; }

    /// <summary>Maildir root: a user's mail is at <c>MAIL_ROOT/&lt;lower-cased user&gt;/Maildir</c>.</summary>
    public string MailRoot { get; }

    public int MailUid { get; }

    public int MailGid { get; }

    /// <summary>Dovecot passwd-files of app-password (PLAIN/LOGIN) users, one per user; see <see cref="AddPasswordUser"/>.</summary>
    public string PasswdDirectory { get; }

    public string LogDirectory { get; }

    /// <summary>Confidential client (client_secret_basic or client_secret_post), every grant type.</summary>
    public string ClientId { get; }

    public string ClientSecret { get; }

    /// <summary>Public client (no secret): authorization code with PKCE, device code, refresh, password.</summary>
    public string PublicClientId { get; }

    /// <summary>Confidential client for client_credentials only; its tokens log in as <see cref="AppEmail"/> unless a username is sent.</summary>
    public string AppClientId { get; }

    public string AppClientSecret { get; }

    public string AppEmail { get; }

    /// <summary>An HttpClient that trusts the rig CA (shared; do not dispose).</summary>
    public HttpClient Http => _http;

    /// <summary>A fresh, unique, lower-case user name, so tests never share a mailbox.</summary>
    public static string NewUser(string prefix = "user") =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix.ToLowerInvariant()}-{Guid.NewGuid():N}")[..(prefix.Length + 13)] + "@" + UserDomain;

    public void Dispose()
    {
        _http.Dispose();
        _ca.Dispose();
    }

    // ---- TLS --------------------------------------------------------------------------------------------

    /// <summary>
    /// Certificate check for everything the rig serves: the chain must end at the rig CA (and only there), and the
    /// name must match. Usable as <see cref="RemoteCertificateValidationCallback"/>.
    /// </summary>
    public bool ValidateServerCertificate(object? sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.Add(_ca);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return custom.Build(leaf);
    }

    /// <summary>A new HttpClient trusting the rig CA; the caller disposes it.</summary>
    public HttpClient CreateHttpClient(bool allowAutoRedirect = false)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = allowAutoRedirect,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = ValidateServerCertificate },
        };
        return new HttpClient(handler, disposeHandler: true) { Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>A MailKit POP3 client that trusts the rig CA (and checks the name); the caller disposes it.</summary>
    public Pop3Client CreatePop3Client(IProtocolLogger? protocolLogger = null)
    {
        var client = protocolLogger is null ? new Pop3Client() : new Pop3Client(protocolLogger);
        client.ServerCertificateValidationCallback = ValidateServerCertificate;
        client.Timeout = 30_000;
        return client;
    }

    /// <summary>
    /// A connected POP3 client: <see cref="SecureSocketOptions.SslOnConnect"/> uses the POP3S port, anything else the
    /// STLS port.
    /// </summary>
    public Task<Pop3Client> ConnectPop3Async(SecureSocketOptions security, CancellationToken cancellationToken = default) =>
        ConnectPop3Async(security, protocolLogger: null, cancellationToken);

    /// <summary>As <see cref="ConnectPop3Async(SecureSocketOptions, CancellationToken)"/>, recording the POP3 dialogue.</summary>
    public async Task<Pop3Client> ConnectPop3Async(SecureSocketOptions security, IProtocolLogger? protocolLogger, CancellationToken cancellationToken = default)
    {
        var client = CreatePop3Client(protocolLogger);
        try
        {
            var port = security == SecureSocketOptions.SslOnConnect ? Pop3sPort : Pop3Port;
            await client.ConnectAsync(Pop3Host, port, security, cancellationToken);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    // ---- Mailboxes --------------------------------------------------------------------------------------

    /// <summary>The Maildir of <paramref name="user"/> (it may not exist yet).</summary>
    public string MaildirOf(string user) => Path.Combine(MailRoot, NormalizeUser(user), "Maildir");

    /// <summary>Creates the user's empty Maildir (owned by the mail user) if missing.</summary>
    public void EnsureMailbox(string user)
    {
        var maildir = MaildirOf(user);
        foreach (var sub in new[] { "new", "cur", "tmp" })
        {
            System.IO.Directory.CreateDirectory(Path.Combine(maildir, sub));
        }

        ChownMailbox(user);
    }

    /// <summary>Removes every message and Dovecot index of the user (no POP3 session may be open on it).</summary>
    public void ClearMailbox(string user)
    {
        var home = Path.Combine(MailRoot, NormalizeUser(user));
        if (System.IO.Directory.Exists(home))
        {
            System.IO.Directory.Delete(home, recursive: true);
        }

        EnsureMailbox(user);
    }

    /// <summary>
    /// Delivers one message into the user's <c>Maildir/new</c> (written in <c>tmp</c>, then renamed, as a delivery
    /// agent does) and returns its file name. POP3 serves the bytes unchanged when they use CRLF line ends.
    /// </summary>
    public string SeedMessage(string user, byte[] mime)
    {
        ArgumentNullException.ThrowIfNull(mime);
        EnsureMailbox(user);
        var name = Deliver(MaildirOf(user), mime);
        ChownMailbox(user);
        return name;
    }

    /// <summary>
    /// Delivers <paramref name="count"/> distinct messages of exactly <paramref name="sizeBytes"/> bytes (CRLF line
    /// ends, so the POP3 size is the same) and returns them in delivery order, which is Dovecot's POP3 order.
    /// </summary>
    public IReadOnlyList<byte[]> SeedMessages(string user, int count, int sizeBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        EnsureMailbox(user);
        var maildir = MaildirOf(user);
        var messages = new List<byte[]>(count);
        for (var i = 0; i < count; i++)
        {
            var mime = MakeMessage(i, sizeBytes);
            Deliver(maildir, mime);
            messages.Add(mime);
        }

        ChownMailbox(user);
        return messages;
    }

    /// <summary>A syntactically valid message of exactly <paramref name="sizeBytes"/> bytes with CRLF line ends.</summary>
    public static byte[] MakeMessage(int index, int sizeBytes)
    {
        var header = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"Message-ID: <rig-{index}-{Guid.NewGuid():N}@{UserDomain}>\r\n")
            .Append(CultureInfo.InvariantCulture, $"Subject: Rig message {index}\r\n")
            .Append("From: Rig <sender@rig.test>\r\n")
            .Append("To: Someone <someone@rig.test>\r\n")
            .Append("Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n")
            .Append("MIME-Version: 1.0\r\n")
            .Append("Content-Type: text/plain; charset=us-ascii\r\n")
            .Append("\r\n")
            .ToString();
        var bytes = new byte[Math.Max(sizeBytes, header.Length + 2)];
        var written = Encoding.ASCII.GetBytes(header, bytes);
        const int LineLength = 78;
        var line = 0;
        while (written < bytes.Length)
        {
            var remaining = bytes.Length - written;
            var body = Math.Min(LineLength, remaining - 2);
            for (var c = 0; c < body; c++)
            {
                bytes[written++] = (byte)('a' + ((line + c) % 26));
            }

            // Fill an odd last byte with text rather than a lone CR.
            if (remaining - body == 1)
            {
                bytes[written++] = (byte)'z';
                continue;
            }

            bytes[written++] = (byte)'\r';
            bytes[written++] = (byte)'\n';
            line++;
        }

        return bytes;
    }

    private static string Deliver(string maildir, byte[] mime)
    {
        // Maildir name with S= (physical size) and W= (size with CRLF line ends, what POP3 reports), so Dovecot
        // doesn't need to read the file to answer LIST or STAT.
        var bareLf = 0;
        for (var i = 0; i < mime.Length; i++)
        {
            if (mime[i] == '\n' && (i == 0 || mime[i - 1] != '\r'))
            {
                bareLf++;
            }
        }

        var seq = Interlocked.Increment(ref s_deliveries);
        var now = DateTimeOffset.UtcNow;
        var name = string.Create(
            CultureInfo.InvariantCulture,
            $"{now.ToUnixTimeSeconds()}.M{now.Ticks / 10 % 1_000_000}P{Environment.ProcessId}Q{seq}.rig,S={mime.Length},W={mime.Length + bareLf}");
        var tmp = Path.Combine(maildir, "tmp", name);
        File.WriteAllBytes(tmp, mime);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.Move(tmp, Path.Combine(maildir, "new", name));
        return name;
    }

    private void ChownMailbox(string user)
    {
        // Dovecot reads mail as the mail user (never root); .NET has no chown, so the chown tool does it.
        var home = Path.Combine(MailRoot, NormalizeUser(user));
        var psi = new ProcessStartInfo("chown")
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-R");
        psi.ArgumentList.Add(string.Create(CultureInfo.InvariantCulture, $"{MailUid}:{MailGid}"));
        psi.ArgumentList.Add(home);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start chown");
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"chown of {home} failed (tests must run as root): {error}");
        }
    }

    private static string NormalizeUser(string user)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(user);
        if (user.Contains('/', StringComparison.Ordinal) || user.Contains(':', StringComparison.Ordinal) || user.StartsWith('.'))
        {
            throw new ArgumentException($"'{user}' cannot be a rig user name", nameof(user));
        }

        // Dovecot's userdb home is MAIL_ROOT/%Lu.
        return user.ToLowerInvariant();
    }

    // ---- App passwords ----------------------------------------------------------------------------------

    /// <summary>
    /// Adds or replaces an app-password (PLAIN/LOGIN) user, usable when this returns: the rig's one writer,
    /// <see cref="RigSettings.AddPasswordUser"/> (tests/rig/add-password-user.sh). A new user needs no wait; a replaced
    /// password is waited for until Dovecot accepts it (a condition, not a sleep).
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Called on the rig fixture, like its other helpers.")]
    public void AddPasswordUser(string user, string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        RigSettings.AddPasswordUser(NormalizeUser(user), password);
    }

    // ---- OAuth ------------------------------------------------------------------------------------------

    /// <summary>
    /// POSTs a form to the token endpoint. With a secret the client authenticates with client_secret_basic (or
    /// client_secret_post when <paramref name="secretInBody"/>); without one it sends client_id (public client).
    /// Never throws for OAuth errors: look at <see cref="RigTokenResponse.Error"/>.
    /// </summary>
    public Task<RigTokenResponse> RequestTokenAsync(
        IEnumerable<KeyValuePair<string, string>> form,
        string clientId,
        string? clientSecret,
        bool secretInBody = false,
        CancellationToken cancellationToken = default) =>
        PostFormAsync(TokenEndpoint, form, clientId, clientSecret, secretInBody, cancellationToken);

    /// <summary>Resource-owner password grant for <paramref name="user"/> through the confidential test client.</summary>
    public Task<RigTokenResponse> PasswordGrantAsync(string user, string? clientId = null, string? clientSecret = null, string? scope = null, CancellationToken cancellationToken = default)
    {
        var form = new Dictionary<string, string> { ["grant_type"] = "password", ["username"] = user, ["password"] = "any" };
        if (scope is not null)
        {
            form["scope"] = scope;
        }

        return RequestTokenAsync(form, clientId ?? ClientId, clientId is null ? ClientSecret : clientSecret, cancellationToken: cancellationToken);
    }

    /// <summary>POSTs a form with client authentication to any rig endpoint (token, revoke, introspect, device).</summary>
    public async Task<RigTokenResponse> PostFormAsync(
        Uri endpoint,
        IEnumerable<KeyValuePair<string, string>> form,
        string clientId,
        string? clientSecret,
        bool secretInBody = false,
        CancellationToken cancellationToken = default)
    {
        var fields = form.ToList();
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint);
        if (clientSecret is not null && !secretInBody)
        {
            // RFC 6749 §2.3.1: both parts are form-encoded before base64.
            var pair = $"{Uri.EscapeDataString(clientId)}:{Uri.EscapeDataString(clientSecret)}";
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(pair)));
        }
        else
        {
            fields.Add(new("client_id", clientId));
            if (clientSecret is not null)
            {
                fields.Add(new("client_secret", clientSecret));
            }
        }

        using var content = new FormUrlEncodedContent(fields);
        request.Content = content;
        using var response = await _http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        var body = text.Length == 0 ? new JsonObject() : JsonNode.Parse(text) ?? new JsonObject();
        return new RigTokenResponse(response.StatusCode, body, response.Headers.RetryAfter?.Delta);
    }

    /// <summary>Mints a token for <paramref name="user"/> directly (admin route); a negative lifetime gives an expired token.</summary>
    public async Task<string> IssueTokenAsync(string user, int expiresInSeconds = 3600, string? scope = null, CancellationToken cancellationToken = default)
    {
        var answer = await AdminPostAsync("issue", new JsonObject { ["username"] = user, ["expires_in"] = expiresInSeconds, ["scope"] = scope }, cancellationToken);
        return answer["access_token"]!.GetValue<string>();
    }

    /// <summary>GET /__rig/stats (one client's slice when <paramref name="clientId"/> is given).</summary>
    public Task<JsonNode> GetStatsAsync(string? clientId = null, CancellationToken cancellationToken = default) =>
        AdminGetAsync(clientId is null ? "stats" : "stats?client_id=" + Uri.EscapeDataString(clientId), cancellationToken);

    /// <summary>POST /__rig/reset: everything, or only one client's counters and settings.</summary>
    public Task<JsonNode> ResetAsync(string? clientId = null, CancellationToken cancellationToken = default) =>
        AdminPostAsync("reset", clientId is null ? new JsonObject() : new JsonObject { ["client_id"] = clientId }, cancellationToken);

    /// <summary>POST /__rig/config: global settings, or one client's when <paramref name="clientId"/> is given (preferred: it leaves other tests alone).</summary>
    public Task<JsonNode> ConfigureAsync(JsonObject settings, string? clientId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var body = (JsonObject)settings.DeepClone();
        if (clientId is not null)
        {
            body["client_id"] = clientId;
        }

        return AdminPostAsync("config", body, cancellationToken);
    }

    /// <summary>Registers a client of this test's own (confidential unless <paramref name="isPublic"/>) with optional settings.</summary>
    public async Task<RigClient> CreateClientAsync(JsonObject? settings = null, bool isPublic = false, string? appEmail = null, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject { ["public"] = isPublic, ["config"] = settings?.DeepClone() ?? new JsonObject() };
        if (appEmail is not null)
        {
            body["app_email"] = appEmail;
        }

        var answer = await AdminPostAsync("clients", body, cancellationToken);
        return new RigClient(answer["client_id"]!.GetValue<string>(), answer["client_secret"]?.GetValue<string>());
    }

    public Task<JsonNode> ApproveDeviceAsync(string userCode, string user, CancellationToken cancellationToken = default) =>
        AdminPostAsync("device/approve", new JsonObject { ["user_code"] = userCode, ["username"] = user }, cancellationToken);

    public Task<JsonNode> DenyDeviceAsync(string userCode, CancellationToken cancellationToken = default) =>
        AdminPostAsync("device/deny", new JsonObject { ["user_code"] = userCode }, cancellationToken);

    /// <summary>Revokes every access and refresh token of a user.</summary>
    public Task<JsonNode> RevokeUserAsync(string user, CancellationToken cancellationToken = default) =>
        AdminPostAsync("revoke-user", new JsonObject { ["username"] = user }, cancellationToken);

    public async Task<JsonNode> AdminGetAsync(string route, CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync(new Uri(OAuthAdmin, route), cancellationToken);
        return await ReadAdminAnswerAsync(route, response, cancellationToken);
    }

    public async Task<JsonNode> AdminPostAsync(string route, JsonNode body, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(new Uri(OAuthAdmin, route), content, cancellationToken);
        return await ReadAdminAnswerAsync(route, response, cancellationToken);
    }

    private static async Task<JsonNode> ReadAdminAnswerAsync(string route, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"rig admin {route} answered {(int)response.StatusCode}: {text}");
        }

        return JsonNode.Parse(text) ?? new JsonObject();
    }

    // ---- helpers ----------------------------------------------------------------------------------------

    private string Get(string key) =>
        Values.TryGetValue(key, out var value) && value.Length > 0
            ? value
            : throw new InvalidOperationException($"rig.json in {Directory} has no {key}; re-run tests/rig/up.sh (it may be older than this test).");

    private int GetInt(string key) => int.Parse(Get(key), CultureInfo.InvariantCulture);

    private static bool PortAnswers(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var connect = socket.ConnectAsync(IPAddress.Loopback, port);
            return connect.Wait(TimeSpan.FromSeconds(2)) && socket.Connected;
        }
        catch (AggregateException)
        {
            return false;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>An OAuth client registered by a test through the admin API.</summary>
public sealed record RigClient(string ClientId, string? ClientSecret);

/// <summary>The answer of a token-style endpoint: status, JSON body and, for injected outages, Retry-After.</summary>
public sealed record RigTokenResponse(HttpStatusCode Status, JsonNode Body, TimeSpan? RetryAfter)
{
    public string? AccessToken => Body["access_token"]?.GetValue<string>();

    public string? RefreshToken => Body["refresh_token"]?.GetValue<string>();

    /// <summary>The OAuth error code (<c>invalid_grant</c>, <c>authorization_pending</c>…), or null on success.</summary>
    public string? Error => Body["error"]?.GetValue<string>();

    public bool IsSuccess => Status == HttpStatusCode.OK && AccessToken is not null;

    /// <summary>The access token; fails with the server's answer when there is none.</summary>
    public string RequireAccessToken() =>
        AccessToken ?? throw new InvalidOperationException($"no access token: {(int)Status} {Body.ToJsonString()}");
}
