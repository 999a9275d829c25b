using System.Globalization;

namespace MailGrpc.Server.Network;

/// <summary>
/// One spelling per host, so the SSRF guard compares like with like: no surrounding space, no trailing dot (the DNS root:
/// <c>localhost.</c> is <c>localhost</c>), lower case, internationalized names as their ASCII (punycode) form.
/// </summary>
internal static class HostNames
{
    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = false };

    /// <summary>
    /// Names that reach a cloud's instance metadata or the local machine whatever they resolve to here: refused by name,
    /// before DNS, because a cloud resolver would answer them even when this one does not.
    /// </summary>
    private static readonly string[] ForbiddenNames =
    [
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.packet.net",
        "metadata.tencentyun.com",
        "100-100-100-200.alibaba",
    ];

    /// <summary>The normalized host, or null when it is not a well-formed name (e.g. an empty label, bad IDNA).</summary>
    public static string? Normalize(string? host)
    {
        if (string.IsNullOrEmpty(host) || host.Length > 253 * 4 || host.Trim() != host)
        {
            return null;
        }

        var name = host.EndsWith('.') && !host.EndsWith("..", StringComparison.Ordinal) ? host[..^1] : host;
        if (name.Length == 0)
        {
            return null;
        }

        if (!System.Text.Ascii.IsValid(name))
        {
            try
            {
                // UTS #46 maps compatibility forms first: full-width "ｌｏｃａｌｈｏｓｔ" is "localhost", "。" is a dot. The server
                // runs in invariant globalization (no ICU), where IdnMapping only encodes, so the mapping that matters is done here.
                name = Idn.GetAscii(MapCompatibilityForms(name).ToLowerInvariant());
            }
            catch (Exception ex) when (ex is ArgumentException or PlatformNotSupportedException)
            {
                return null;
            }

            if (!System.Text.Ascii.IsValid(name))
            {
                return null;
            }
        }

        return name.ToLowerInvariant();
    }

    private static string MapCompatibilityForms(string name) => string.Create(name.Length, name, static (span, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            var c = source[i];
            span[i] = c switch
            {
                '\u3002' or '\uFF0E' or '\uFF61' => '.',
                >= '\uFF01' and <= '\uFF5E' => (char)(c - 0xFEE0),
                _ => c,
            };
        }
    });

    /// <summary>True for localhost (and its subdomains, RFC 6761) and the metadata service names of the big clouds.</summary>
    public static bool IsForbiddenName(string normalizedHost) =>
        ForbiddenNames.Contains(normalizedHost, StringComparer.Ordinal) || normalizedHost.EndsWith(".localhost", StringComparison.Ordinal);
}
