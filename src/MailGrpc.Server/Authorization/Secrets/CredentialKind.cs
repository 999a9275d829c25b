using System.Text.Json.Serialization;

namespace MailGrpc.Server.Authorization.Secrets;

/// <summary>
/// What a stored credential is. The project's own enum, not the proto's: it is persisted (as its name) inside every
/// encrypted credential, so the stored names are pinned here and a rename in the .proto cannot change stored data. The
/// names and numbers are those the proto enum was stored with before.
/// </summary>
internal enum CredentialKind
{
    /// <summary>Nothing stored.</summary>
    [JsonStringEnumMemberName("Unspecified")]
    Unspecified = 0,

    /// <summary>Delegated tokens from a person's consent (authorization code, device code, imported refresh token).</summary>
    [JsonStringEnumMemberName("Delegated")]
    Delegated = 1,

    /// <summary>An app-only token from client credentials.</summary>
    [JsonStringEnumMemberName("AppOnly")]
    AppOnly = 2,

    /// <summary>An app password.</summary>
    [JsonStringEnumMemberName("Password")]
    Password = 3,
}
