using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Tests.Mailboxes;

/// <summary>
/// A mailbox document as Redis holds it. Its enums are the project's own with pinned JSON names, so neither a .proto
/// rename nor a C# rename changes stored data, and documents written before the core had its own enums (when they were
/// the API's, serialized by their C# names) read back unchanged.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class StoredMailboxRecordTests
{
    // Written by the server before issue #12 (MailboxRecord on mailgrpc.v1 enums): every enum at a non-default value.
    private const string StoredDocument =
        """{"Tenant":"t1","Id":"mbx-1","Username":"u@example.com","DisplayName":"U","Provider":"Microsoft","Host":"outlook.office365.com","Port":995,"Security":"ImplicitTls","AuthKind":"OAuth","OAuthClient":"m365","Mechanism":"Oauthbearer","State":"ReauthorizationRequired","LastErrorReason":"INVALID_GRANT","LastErrorMessage":"m","CreatedAt":"2026-01-02T03:04:05+00:00","UpdatedAt":"2026-01-02T03:04:06+00:00"}""";

    private static readonly MailboxRecord Record = new()
    {
        Tenant = "t1",
        Id = "mbx-1",
        Username = "u@example.com",
        DisplayName = "U",
        Provider = MailboxProvider.Microsoft,
        Host = "outlook.office365.com",
        Port = 995,
        Security = Pop3Security.ImplicitTls,
        AuthKind = MailboxAuthKind.OAuth,
        OAuthClient = "m365",
        Mechanism = OAuthMechanism.Oauthbearer,
        State = MailboxState.ReauthorizationRequired,
        LastErrorReason = "INVALID_GRANT",
        LastErrorMessage = "m",
        CreatedAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero),
        UpdatedAt = new DateTimeOffset(2026, 1, 2, 3, 4, 6, TimeSpan.Zero),
    };

    [Fact]
    public void A_record_is_stored_as_the_same_bytes_as_before_and_reads_back_equal()
    {
        var stored = JsonSerializer.SerializeToUtf8Bytes(Record, MailboxJsonContext.Default.MailboxRecord);

        Assert.Equal(StoredDocument, Encoding.UTF8.GetString(stored));
        Assert.Equal(Record, JsonSerializer.Deserialize(stored, MailboxJsonContext.Default.MailboxRecord));
    }

    public static TheoryData<string, string> StoredNames => new()
    {
        { nameof(MailboxState), "Unspecified PendingAuthorization Active ReauthorizationRequired Disabled" },
        { nameof(MailboxProvider), "Unspecified Microsoft Google Generic" },
        { nameof(Pop3Security), "Unspecified ImplicitTls Starttls None" },
        { nameof(OAuthMechanism), "Unspecified Xoauth2 Oauthbearer" },
        { nameof(MailboxAuthKind), "None OAuth Password" },
    };

    [Theory]
    [MemberData(nameof(StoredNames))]
    public void Every_stored_enum_value_has_a_pinned_name_that_round_trips(string enumName, string names)
    {
        var type = typeof(MailboxRecord).Assembly.GetType($"MailGrpc.Server.Mailboxes.{enumName}", throwOnError: true)!;

        var pinned = type.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => Assert.IsType<JsonStringEnumMemberNameAttribute>(f.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()).Name);

        Assert.Equal(names.Split(' '), pinned);
        foreach (var name in names.Split(' '))
        {
            var document = StoredDocument.Replace(FieldOf(enumName), $"\"{FieldName(enumName)}\":\"{name}\"", StringComparison.Ordinal);
            var read = JsonSerializer.Deserialize(document, MailboxJsonContext.Default.MailboxRecord)!;
            Assert.Equal(document, JsonSerializer.Serialize(read, MailboxJsonContext.Default.MailboxRecord));
        }
    }

    [Fact]
    public void The_stored_record_refers_to_no_api_type()
    {
        var apiTypes = typeof(MailboxRecord).GetProperties()
            .Select(p => Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType)
            .Where(t => t.Namespace?.StartsWith("MailGrpc.V1", StringComparison.Ordinal) == true || t.Assembly == typeof(MailGrpc.V1.Mailbox).Assembly);

        Assert.Empty(apiTypes);
    }

    private static string FieldName(string enumName) => enumName switch
    {
        nameof(MailboxState) => "State",
        nameof(MailboxProvider) => "Provider",
        nameof(Pop3Security) => "Security",
        nameof(OAuthMechanism) => "Mechanism",
        _ => "AuthKind",
    };

    private static string FieldOf(string enumName)
    {
        var field = FieldName(enumName);
        var start = StoredDocument.IndexOf($"\"{field}\":\"", StringComparison.Ordinal);
        var end = StoredDocument.IndexOf('"', start + field.Length + 4);
        return StoredDocument[start..(end + 1)];
    }
}
