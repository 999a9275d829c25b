using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Authorization.Secrets;

/// <summary>
/// Refuses to start with Redis configured but no encryption key (secrets written under an ephemeral key would be lost at
/// the next restart and unreadable by other replicas), and with several keys but no <c>ActiveKeyId</c>.
/// </summary>
internal sealed class EncryptionKeysValidator : IValidateOptions<MailGrpcOptions>
{
    public ValidateOptionsResult Validate(string? name, MailGrpcOptions options)
    {
        var encryption = options.Encryption;
        if (encryption.Keys.Count == 0 && !string.IsNullOrWhiteSpace(options.Redis.Configuration))
        {
            return ValidateOptionsResult.Fail(
                "MailGrpc:Encryption:Keys is empty but MailGrpc:Redis:Configuration is set: configure at least one base64 256-bit key " +
                "(MailGrpc__Encryption__Keys__<id>) and MailGrpc:Encryption:ActiveKeyId. See docs/authorization.md.");
        }

        if (encryption.Keys.Count > 1 && string.IsNullOrEmpty(encryption.ActiveKeyId))
        {
            return ValidateOptionsResult.Fail("MailGrpc:Encryption:ActiveKeyId is required when more than one key is configured.");
        }

        return ValidateOptionsResult.Success;
    }
}
