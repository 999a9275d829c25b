using System.Text.Json.Serialization;

namespace MailGrpc.Server.Mailboxes;

/// <summary>
/// Where a mailbox is in its life, as stored. The project's own enum, not the API's: the JSON names (pinned with
/// <see cref="JsonStringEnumMemberNameAttribute"/>) are what Redis holds, so renaming a member here or in the .proto never
/// changes stored data. <c>GrpcApi/MailboxProtoMapper</c> converts to and from the API's <c>mailgrpc.v1.MailboxState</c>.
/// </summary>
internal enum MailboxState
{
    [JsonStringEnumMemberName("Unspecified")] Unspecified = 0,
    [JsonStringEnumMemberName("PendingAuthorization")] PendingAuthorization = 1,
    [JsonStringEnumMemberName("Active")] Active = 2,
    [JsonStringEnumMemberName("ReauthorizationRequired")] ReauthorizationRequired = 3,
    [JsonStringEnumMemberName("Disabled")] Disabled = 4,
}
