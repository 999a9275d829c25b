using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Server.Authorization.Flows;

/// <summary>
/// Only in the <c>Testing</c> environment: lets multi-process tests drive the token broker of a real server process
/// (<c>POST /__testing/credentials/{tenant}/{mailboxId}</c>). It answers the credential's kind, expiry and a SHA-256
/// fingerprint — never the secret. Not mapped in any other environment.
/// </summary>
internal static class TestingCredentialEndpoint
{
    public static IEndpointRouteBuilder MapTestingCredentialEndpoint(this IEndpointRouteBuilder endpoints, IHostEnvironment environment)
    {
        if (environment.IsEnvironment("Testing"))
        {
            endpoints.MapPost("/__testing/credentials/{tenant}/{mailboxId}", HandleAsync).ExcludeFromDescription();
        }

        return endpoints;
    }

    private static async Task<IResult> HandleAsync(string tenant, string mailboxId, MailboxRepository mailboxes, IMailboxCredentials credentials, HttpContext http)
    {
        try
        {
            var mailbox = await mailboxes.GetRequiredAsync(tenant, mailboxId, http.RequestAborted);
            var credential = await credentials.GetAsync(mailbox, http.RequestAborted);
            var answer = new Dictionary<string, string?>
            {
                ["kind"] = credential.Kind.ToString(),
                ["expiresAt"] = credential.ExpiresAt?.ToString("O"),
                ["fingerprint"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(credential.Secret)))[..16],
            };
            return Results.Json(answer, TestingJsonContext.Default.DictionaryStringString);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            var mapped = ExceptionMapper.Classify(ex, http.RequestAborted);
            return Results.Json(new Dictionary<string, string?> { ["code"] = mapped.Kind.ToString(), ["reason"] = mapped.Reason }, TestingJsonContext.Default.DictionaryStringString, statusCode: StatusCodes.Status409Conflict);
        }
    }
}

/// <summary>Source-generated JSON for the testing endpoint (the server is published as native AOT).</summary>
[JsonSerializable(typeof(Dictionary<string, string?>))]
internal sealed partial class TestingJsonContext : JsonSerializerContext;
