using System.Security.Cryptography;
using System.Text;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace MailGrpc.Tests.Authorization;

[Trait("Layer", "Fast")]
public sealed class SecretProtectorTests
{
    private static readonly string KeyA = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private static readonly string KeyB = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private static SecretProtector Protector(string active, params (string Id, string Key)[] keys)
    {
        var options = new EncryptionOptions();
        foreach (var (id, key) in keys)
        {
            options.Keys[id] = key;
        }

        options.ActiveKeyId = active;
        return new SecretProtector(new KeyRing(Options.Create(options)));
    }

    [Fact]
    public void Round_trips_and_records_the_key_id_without_the_plaintext()
    {
        var protector = Protector("a", ("a", KeyA));
        var secret = Encoding.UTF8.GetBytes("refresh-token-value-123");
        var context = SecretContext.Credential("t1", "mbx-1");

        var blob = protector.Protect(secret, context);

        Assert.Equal("a", SecretProtector.KeyIdOf(blob));
        Assert.DoesNotContain("refresh-token", Encoding.Latin1.GetString(blob), StringComparison.Ordinal);
        Assert.Equal(secret, protector.Unprotect(blob, context, out var keyId));
        Assert.Equal("a", keyId);
    }

    [Fact]
    public void A_blob_moved_to_another_mailbox_or_tenant_does_not_decrypt()
    {
        var protector = Protector("a", ("a", KeyA));
        var blob = protector.Protect("secret"u8, SecretContext.Credential("t1", "mbx-1"));

        Assert.Throws<SecretUnreadableException>(() => protector.Unprotect(blob, SecretContext.Credential("t1", "mbx-2"), out _));
        Assert.Throws<SecretUnreadableException>(() => protector.Unprotect(blob, SecretContext.Credential("t2", "mbx-1"), out _));
        Assert.Throws<SecretUnreadableException>(() => protector.Unprotect(blob, SecretContext.MsalCache("t1", "mbx-1"), out _));
    }

    [Fact]
    public void A_flipped_bit_or_a_swapped_key_id_is_refused()
    {
        var protector = Protector("a", ("a", KeyA), ("b", KeyB));
        var context = SecretContext.Credential("t1", "mbx-1");
        var blob = protector.Protect("secret"u8, context);

        var flipped = (byte[])blob.Clone();
        flipped[^1] ^= 1;
        Assert.Throws<SecretUnreadableException>(() => protector.Unprotect(flipped, context, out _));

        var swapped = (byte[])blob.Clone();
        swapped[2] = (byte)'b';
        Assert.Throws<SecretUnreadableException>(() => protector.Unprotect(swapped, context, out _));
    }

    [Fact]
    public void After_rotation_old_blobs_decrypt_and_new_ones_use_the_new_key()
    {
        var context = SecretContext.Credential("t1", "mbx-1");
        var old = Protector("a", ("a", KeyA)).Protect("secret"u8, context);

        var rotated = Protector("b", ("a", KeyA), ("b", KeyB));
        Assert.Equal("secret"u8.ToArray(), rotated.Unprotect(old, context, out var oldKey));
        Assert.Equal("a", oldKey);
        Assert.Equal("b", SecretProtector.KeyIdOf(rotated.Protect("secret"u8, context)));

        var withoutOldKey = Protector("b", ("b", KeyB));
        var error = Assert.Throws<SecretUnreadableException>(() => withoutOldKey.Unprotect(old, context, out _));
        Assert.Contains("'a'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_keys_an_ephemeral_key_is_made_up()
    {
        var ring = new KeyRing(Options.Create(new EncryptionOptions()));
        Assert.True(ring.IsEphemeral);
        Assert.StartsWith("ephemeral-", ring.ActiveKeyId, StringComparison.Ordinal);
    }

    [Fact]
    public void Redis_without_a_key_fails_validation()
    {
        var redis = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["MailGrpc:Redis:Configuration"] = "127.0.0.1:1" }).Build();
        var options = new EncryptionOptions();
        Assert.True(new EncryptionKeysValidator(redis).Validate(null, options).Failed);

        options.Keys["k1"] = KeyA;
        Assert.True(new EncryptionKeysValidator(redis).Validate(null, options).Succeeded);

        options.Keys["k2"] = KeyB;
        Assert.True(new EncryptionKeysValidator(redis).Validate(null, options).Failed);
    }
}
