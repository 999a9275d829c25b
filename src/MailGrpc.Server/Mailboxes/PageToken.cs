using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MailGrpc.Server.Errors;

namespace MailGrpc.Server.Mailboxes;

/// <summary>
/// Opaque paging cursors: base64url JSON naming the tenant and the position. A token of another tenant, or one the server
/// did not make, fails with INVALID_ARGUMENT instead of silently restarting the listing. Not signed, on purpose: a token
/// only says where a listing of the caller's own tenant continues, the tenant in it must match the caller's API key, and
/// a made-up position gives nothing the caller could not list anyway (docs/errors.md).
/// </summary>
internal static class PageToken
{
    private const int Version = 1;

    public static string Encode(string tenant, string kind, string position)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(new Cursor(Version, tenant, kind, position), PageTokenJsonContext.Default.Cursor);
        return Base64Url.EncodeToString(json);
    }

    /// <summary>The position, or null for an empty token (the first page).</summary>
    public static string? Decode(string token, string tenant, string kind)
    {
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        Cursor? cursor = null;
        try
        {
            if (token.Length <= 2048)
            {
                cursor = JsonSerializer.Deserialize(Base64Url.DecodeFromChars(token), PageTokenJsonContext.Default.Cursor);
            }
        }
        catch (Exception ex) when (ex is FormatException or JsonException or DecoderFallbackException)
        {
            cursor = null;
        }

        if (cursor is null || cursor.V != Version || cursor.T != tenant || cursor.K != kind || string.IsNullOrEmpty(cursor.P))
        {
            throw Failures.InvalidPageToken();
        }

        return cursor.P;
    }

    internal sealed record Cursor(int V, string T, string K, string P);
}

[JsonSerializable(typeof(PageToken.Cursor))]
internal sealed partial class PageTokenJsonContext : JsonSerializerContext;
