using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Authorization.Secrets;

/// <summary>
/// Refuses to start with Redis configured but no encryption key (secrets written under an ephemeral key would be lost at
/// the next restart and unreadable by other replicas), and with several keys but no <c>ActiveKeyId</c>.
/// </summary>
internal sealed class EncryptionKeysValidator(IConfiguration configuration) : IValidateOptions<EncryptionOptions>
{
    public ValidateOptionsResult Validate(string? name, EncryptionOptions options)
    {
        var encryption = options;
        if (encryption.Keys.Count == 0 && !string.IsNullOrWhiteSpace(configuration[$"{RedisOptions.SectionName}:Configuration"]))
        {
            return ValidateOptionsResult.Fail(
                "MailGrpc:Encryption:Keys is empty but MailGrpc:Redis:Configuration is set (secrets in Redis need a key that outlives the process). " +
                "Fix: make a key with `openssl rand -base64 32` and set it as MailGrpc__Encryption__Keys__<id> with MailGrpc__Encryption__ActiveKeyId=<id>. See docs/authorization.md.");
        }

        if (encryption.Keys.Count > 1 && string.IsNullOrEmpty(encryption.ActiveKeyId))
        {
            return ValidateOptionsResult.Fail("MailGrpc:Encryption:ActiveKeyId is empty but several keys are configured. Fix: set MailGrpc__Encryption__ActiveKeyId to the id of the key new secrets use.");
        }

        return ValidateOptionsResult.Success;
    }
}
