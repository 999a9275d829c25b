using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace MailGrpc.Server.Hosting;

/// <summary>
/// Kestrel's request-header limits, raised just enough that a caller's oversized <c>x-api-key</c> (up to about 1 MiB)
/// reaches the API key check and gets UNAUTHENTICATED <c>API_KEY_INVALID</c>. With Kestrel's defaults (32 KiB in total,
/// 16 KiB per HTTP/2 field) the .NET client refuses to send it (INTERNAL, no reason) and other clients get the whole
/// HTTP/2 connection closed, every call on it failing. Headers beyond these limits still close the connection.
/// </summary>
internal static class RequestHeaderLimits
{
    /// <summary>The largest request header block, and the largest single header field: 1 MiB of value plus 64 KiB for the rest.</summary>
    public const int MaxBytes = (1024 + 64) * 1024;

    public static void Apply(KestrelServerLimits limits)
    {
        // Kestrel requires the per-connection input buffer to hold a whole header block.
        if (limits.MaxRequestBufferSize is { } buffer && buffer < MaxBytes)
        {
            limits.MaxRequestBufferSize = MaxBytes;
        }

        limits.MaxRequestHeadersTotalSize = MaxBytes;
        limits.Http2.MaxRequestHeaderFieldSize = MaxBytes;
    }
}
