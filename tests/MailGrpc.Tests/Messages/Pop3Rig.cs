using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Messages;

/// <summary>
/// The parts of the shared test rig (tests/rig/up.sh → <see cref="RigSettings"/>) the POP3 tests use: Dovecot ports, app
/// password users, tokens from the rig's OAuth admin routes, and Maildirs seeded by writing files into Maildir/new.
/// Every test makes its own user, so tests never see each other's mail.
/// </summary>
public sealed class Pop3Rig : IDisposable
{
    private readonly IReadOnlyDictionary<string, string> _env;
    private readonly HttpClient _http;

    public Pop3Rig()
    {
        RigSettings.EnsureRunning(RigSettings.Pop3sPort);
        _env = RigSettings.Values;
        var ca = X509CertificateLoader.LoadCertificateFromFile(CaFile);
        _http = new HttpClient(new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, cert, _, errors) =>
            {
                if (cert is null)
                {
                    return false;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(cert);
            },
        });
    }

    public string Redis => _env["REDIS"];

    public string CaFile => _env["CA_FILE"];

    public int Pop3Port => int.Parse(_env["POP3_PORT"], System.Globalization.CultureInfo.InvariantCulture);

    public int Pop3sPort => int.Parse(_env["POP3S_PORT"], System.Globalization.CultureInfo.InvariantCulture);

    public int WrongNamePort => int.Parse(_env["POP3S_WRONGNAME_PORT"], System.Globalization.CultureInfo.InvariantCulture);

    public string MailRoot => _env["MAIL_ROOT"];

    public string DovecotLog => Path.Combine(_env["LOG_DIR"], "dovecot.log");

    public string OAuthIssuer => _env["OAUTH_ISSUER"];

    public string Env(string key) => _env[key];

    /// <summary>
    /// Settings for a real server process on the rig: its Redis, its OAuth client, its CA trusted, and only 127.0.0.1
    /// exempt from the SSRF guard (not every private address).
    /// </summary>
    public Dictionary<string, string?> ServerProcessSettings(TestTenant tenant)
    {
        var settings = Authorization.OAuthRig.Settings(Env("OAUTH_CLIENT_ID"), Env("OAUTH_CLIENT_SECRET"), tenant);
        settings.Remove("MailGrpc:Network:AllowPrivateAddresses");
        settings["MailGrpc:Network:AllowedHosts:0"] = "127.0.0.1";
        settings["MailGrpc:Redis:Configuration"] = Redis;
        settings["MailGrpc:Tls:ExtraTrustedCaFile"] = CaFile;
        return settings;
    }

    /// <summary>A fresh user name (lower case: Dovecot looks users up lower-cased).</summary>
    public static string NewUser(string prefix) => $"{prefix}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5))}@rig.test";

    /// <summary>Adds an app-password user with a fresh password (<see cref="RigSettings.AddPasswordUser"/>); returns the password.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Called on the rig fixture, like its other helpers.")]
    public string AddPasswordUser(string user)
    {
        var password = "pw-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        RigSettings.AddPasswordUser(user, password);
        return password;
    }

    /// <summary>An access token for <paramref name="user"/> from the rig's OAuth server (admin issue route).</summary>
    public async Task<string> IssueTokenAsync(string user, int expiresIn = 3600)
    {
        using var response = await _http.PostAsJsonAsync($"{OAuthIssuer}/__rig/issue", new { username = user, expires_in = expiresIn });
        response.EnsureSuccessStatusCode();
        var json = await response.Content.ReadFromJsonAsync<JsonObject>();
        return json!["access_token"]!.GetValue<string>();
    }

    /// <summary>An access and a refresh token for <paramref name="user"/>, issued to the rig's confidential client.</summary>
    public async Task<(string Access, string Refresh)> IssueGrantAsync(string user)
    {
        using var response = await _http.PostAsJsonAsync($"{OAuthIssuer}/__rig/issue", new { username = user, refresh_token = true, client_id = Env("OAUTH_CLIENT_ID") });
        response.EnsureSuccessStatusCode();
        var json = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        return (json["access_token"]!.GetValue<string>(), json["refresh_token"]!.GetValue<string>());
    }

    /// <summary>Revokes every token of <paramref name="user"/> at the OAuth server.</summary>
    public async Task RevokeUserAsync(string user)
    {
        using var response = await _http.PostAsJsonAsync($"{OAuthIssuer}/__rig/revoke-user", new { username = user });
        response.EnsureSuccessStatusCode();
    }

    public string Maildir(string user) => Path.Combine(MailRoot, user, "Maildir");

    /// <summary>Writes messages into Maildir/new (owned by the mail user). Returns their file names in delivery order.</summary>
    private static int s_sequence;

    public async Task<IReadOnlyList<string>> SeedAsync(string user, IEnumerable<byte[]> messages)
    {
        var maildir = Maildir(user);
        foreach (var sub in new[] { "new", "cur", "tmp" })
        {
            Directory.CreateDirectory(Path.Combine(maildir, sub));
        }

        // Only what this call created is given to the mail user, never a recursive chown over a Maildir that Dovecot may be
        // renaming files in at this moment (a poller's session moves new/ to cur/: "chown failed" under load). Messages
        // are written under tmp/, handed over, then renamed into new/, as an MTA delivers.
        Chown([Path.Combine(MailRoot, user), maildir, .. new[] { "new", "cur", "tmp" }.Select(sub => Path.Combine(maildir, sub))]);
        var names = new List<string>();
        var stamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        foreach (var message in messages)
        {
            // Maildir names sort by time, then sequence: Dovecot assigns uids in that order. The sequence is process-wide:
            // a second seeding in the same second must not reuse a base name, or Dovecot takes it for a message it has.
            var name = $"{stamp}.M{Interlocked.Increment(ref s_sequence):D7}P{Environment.ProcessId}.rig";
            await File.WriteAllBytesAsync(Path.Combine(maildir, "tmp", name), message);
            names.Add(name);
        }

        if (names.Count > 0)
        {
            Chown([.. names.Select(name => Path.Combine(maildir, "tmp", name))]);
            foreach (var name in names)
            {
                File.Move(Path.Combine(maildir, "tmp", name), Path.Combine(maildir, "new", name));
            }
        }

        return names;
    }

    /// <summary>Every message file of the user (new and cur).</summary>
    public IReadOnlyList<string> MessageFiles(string user)
    {
        var maildir = Maildir(user);
        return new[] { "new", "cur" }
            .Select(s => Path.Combine(maildir, s))
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateFiles)
            .ToArray();
    }

    private void Chown(string[] paths)
    {
        using var chown = System.Diagnostics.Process.Start("chown", [$"{_env["MAIL_UID"]}:{_env["MAIL_GID"]}", .. paths])!;
        chown.WaitForExit();
        if (chown.ExitCode != 0)
        {
            throw new InvalidOperationException("chown failed");
        }
    }

    /// <summary>A test message of about <paramref name="size"/> bytes with CRLF line ends (so file bytes = POP3 bytes), a
    /// line starting with a dot (exercises POP3 dot-stuffing) and a small attachment.</summary>
    public static byte[] MakeMessage(int number, int size, string? subject = null)
    {
        var sb = new StringBuilder();
        sb.Append("From: Sender ").Append(number).Append(" <sender@example.org>\r\n");
        sb.Append("To: Receiver <rcpt@example.org>\r\n");
        sb.Append("Subject: ").Append(subject ?? $"Message {number}").Append("\r\n");
        sb.Append("Date: Tue, 03 Nov 2026 10:00:00 +0000\r\n");
        sb.Append("Message-ID: <m").Append(number).Append("@example.org>\r\n");
        sb.Append("MIME-Version: 1.0\r\n");
        sb.Append("Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n");
        sb.Append("--b1\r\nContent-Type: text/plain\r\n\r\n");
        sb.Append(".a line that starts with a dot\r\n");
        var line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit " + number + " 0123456789\r\n";
        while (sb.Length < size - 300)
        {
            sb.Append(line);
        }

        sb.Append("--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"doc.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        sb.Append("JVBERi0xLjQK\r\n");
        sb.Append("--b1--\r\n");
        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    public void Dispose() => _http.Dispose();
}

[CollectionDefinition("pop3")]
public sealed class Pop3RigGroup : ICollectionFixture<Pop3Rig>;
