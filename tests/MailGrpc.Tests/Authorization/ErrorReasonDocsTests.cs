using System.Reflection;
using System.Text.RegularExpressions;
using MailGrpc.Server.Errors;
using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Authorization;

/// <summary>
/// docs/errors.md and the reasons the server uses, both ways: every <see cref="ErrorReasons"/> constant the code uses is
/// documented, and every documented reason is one the code uses.
/// </summary>
[Trait("Layer", "Fast")]
public sealed partial class ErrorReasonDocsTests
{
    private static readonly Dictionary<string, string> Constants = typeof(ErrorReasons)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral && f.Name != nameof(ErrorReasons.Domain))
        .ToDictionary(f => f.Name, f => (string)f.GetRawConstantValue()!, StringComparer.Ordinal);

    /// <summary>Values of the constants referenced anywhere in src/ outside ErrorReasons.cs.</summary>
    private static HashSet<string> Used()
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "src"), "*.cs", SearchOption.AllDirectories))
        {
            if (file.EndsWith("ErrorReasons.cs", StringComparison.Ordinal) || file.Contains("/obj/", StringComparison.Ordinal))
            {
                continue;
            }

            foreach (Match m in Reference().Matches(File.ReadAllText(file)))
            {
                if (Constants.TryGetValue(m.Groups[1].Value, out var value))
                {
                    used.Add(value);
                }
            }
        }

        return used;
    }

    /// <summary>Backticked reasons in the reason column of docs/errors.md's tables.</summary>
    private static HashSet<string> Documented()
    {
        var documented = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(Path.Combine(RepoPaths.Root, "docs/errors.md")))
        {
            var cells = line.Split('|');
            if (cells.Length < 4)
            {
                continue;
            }

            foreach (Match m in Code().Matches(cells[2]))
            {
                documented.Add(m.Groups[1].Value);
            }
        }

        return documented;
    }

    [Fact]
    public void Every_reason_the_server_uses_is_in_docs_errors_md()
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs/errors.md"));
        var missing = Used().Where(r => !text.Contains($"`{r}`", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, "Used but not documented in docs/errors.md: " + string.Join(", ", missing));
    }

    [Fact]
    public void Every_reason_in_docs_errors_md_is_used_by_the_server()
    {
        var unused = Documented().Except(Used()).Order(StringComparer.Ordinal).ToList();
        Assert.True(unused.Count == 0, "Documented in docs/errors.md but never used: " + string.Join(", ", unused));
    }

    [GeneratedRegex(@"ErrorReasons\.([A-Za-z0-9]+)")]
    private static partial Regex Reference();

    [GeneratedRegex(@"`([A-Z][A-Z0-9_]+)`")]
    private static partial Regex Code();
}
