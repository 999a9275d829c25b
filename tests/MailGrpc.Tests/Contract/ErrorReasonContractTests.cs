using System.Reflection;
using Google.Protobuf.Reflection;
using System.Text.RegularExpressions;
using MailGrpc.Server.Errors;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Contract;

/// <summary>
/// The error contract in three places agrees both ways: the reasons the server defines (Errors/ErrorReasons.cs), the
/// <c>mailgrpc.v1.ErrorReason</c> enum every SDK is generated from, and docs/errors.md. Each failure says what to add where.
/// </summary>
[Trait("Layer", "Fast")]
public sealed partial class ErrorReasonContractTests
{
    private const string ProtoFile = "protos/mailgrpc/v1/error_reason.proto";
    private const string ServerFile = "src/MailGrpc.Server/Errors/ErrorReasons.cs";
    private const string DocsFile = "docs/errors.md";

    private static readonly Dictionary<string, string> ServerReasons = typeof(ErrorReasons)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f is { IsLiteral: true } && f.Name != nameof(ErrorReasons.Domain))
        .ToDictionary(f => (string)f.GetRawConstantValue()!, f => f.Name, StringComparer.Ordinal);

    private static readonly EnumDescriptor Enum = ErrorReasonReflection.Descriptor.FindTypeByName<EnumDescriptor>("ErrorReason");

    private static readonly HashSet<string> EnumReasons = Enum.Values.Where(v => v.Number != 0).Select(v => v.Name).ToHashSet(StringComparer.Ordinal);

    [Fact]
    public void Every_server_reason_is_an_ErrorReason_value()
    {
        var next = Enum.Values.Max(v => v.Number) + 1;
        var missing = ServerReasons.Keys.Where(r => !EnumReasons.Contains(r)).Order(StringComparer.Ordinal).ToList();
        var fixes = missing.Select((r, i) => $"  {r} = {next + i};   // add to enum ErrorReason in {ProtoFile} (with a comment: status and when, as in {DocsFile})");
        Assert.True(missing.Count == 0, $"""
            {ServerFile} defines reasons the proto's ErrorReason enum lacks. Append (numbers continue; never renumber):
            {string.Join('\n', fixes)}
            then run clients/generate.sh and commit the regenerated clients.
            """);
    }

    [Fact]
    public void Every_ErrorReason_value_is_a_server_reason()
    {
        var missing = EnumReasons.Where(r => !ServerReasons.ContainsKey(r)).Order(StringComparer.Ordinal).ToList();
        var fixes = missing.Select(r => $"    public const string {ToPascal(r)} = \"{r}\";   // add to {ServerFile}");
        Assert.True(missing.Count == 0, $"""
            The proto's ErrorReason enum ({ProtoFile}) has values the server does not define. Reasons are never removed from
            the enum (it would break the SDKs); define them in the server:
            {string.Join('\n', fixes)}
            """);
    }

    [Fact]
    public void Every_server_reason_is_documented()
    {
        var documented = DocumentedReasons();
        var missing = ServerReasons.Keys.Where(r => !documented.Contains(r)).Order(StringComparer.Ordinal).ToList();
        var fixes = missing.Select(r => $"| <STATUS> | `{r}` | <when> |   <- add a row to the right table of {DocsFile}");
        Assert.True(missing.Count == 0, $"""
            {ServerFile} defines reasons that {DocsFile} does not list (the reason column of a table):
            {string.Join('\n', fixes)}
            """);
    }

    [Fact]
    public void Every_documented_reason_is_a_server_reason_and_an_ErrorReason_value()
    {
        var unknown = DocumentedReasons().Where(r => !ServerReasons.ContainsKey(r) || !EnumReasons.Contains(r)).Order(StringComparer.Ordinal).ToList();
        var fixes = unknown.Select(r =>
            (ServerReasons.ContainsKey(r) ? string.Empty : $"{r}: add `public const string {ToPascal(r)} = \"{r}\";` to {ServerFile}. ") +
            (EnumReasons.Contains(r) ? string.Empty : $"{r}: append `{r} = <next number>;` to enum ErrorReason in {ProtoFile}. ") +
            "Or correct the row in " + DocsFile + ".");
        Assert.True(unknown.Count == 0, $"""
            {DocsFile} lists reasons that are not in both the server and the proto:
            {string.Join('\n', fixes)}
            """);
    }

    [Fact]
    public void The_enum_is_what_the_proto_file_says_and_its_zero_value_is_not_a_reason()
    {
        // The C# types come from the same file the SDKs are generated from; the zero value is the "unknown reason".
        Assert.Equal("mailgrpc/v1/error_reason.proto", Enum.File.Name);
        Assert.Equal("ERROR_REASON_UNSPECIFIED", Enum.FindValueByNumber(0).Name);
        Assert.DoesNotContain("ERROR_REASON_UNSPECIFIED", ServerReasons.Keys);
        Assert.Equal(ErrorReason.ApiKeyInvalid, (ErrorReason)Enum.FindValueByName(ErrorReasons.ApiKeyInvalid).Number);
        var source = File.ReadAllText(Path.Combine(RepoPaths.Root, ProtoFile));
        foreach (var value in Enum.Values)
        {
            Assert.Contains($"  {value.Name} = {value.Number};", source, StringComparison.Ordinal);
        }
    }

    /// <summary>Reasons in the second column of every table in docs/errors.md (a cell may hold several).</summary>
    private static HashSet<string> DocumentedReasons()
    {
        var reasons = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(Path.Combine(RepoPaths.Root, DocsFile)))
        {
            var cells = line.Split('|');
            if (!line.StartsWith('|') || cells.Length < 4)
            {
                continue;
            }

            foreach (Match match in ReasonInCell().Matches(cells[2]))
            {
                reasons.Add(match.Groups[1].Value);
            }
        }

        Assert.NotEmpty(reasons);
        return reasons;
    }

    private static string ToPascal(string reason) =>
        string.Concat(reason.Split('_').Select(w => w[..1] + w[1..].ToLowerInvariant()));

    [GeneratedRegex("`([A-Z][A-Z0-9_]*)`")]
    private static partial Regex ReasonInCell();
}
