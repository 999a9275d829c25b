using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace MailGrpc.Server.Authorization.Secrets;

/// <summary>
/// AES-256-GCM for everything secret MailGrpc stores. The associated data binds a ciphertext to its purpose, tenant and
/// mailbox, so a blob copied to another mailbox's key does not decrypt. Layout (version 1):
/// <c>0x01 | keyIdLength (1) | keyId (ASCII) | nonce (12) | tag (16) | ciphertext</c> — the key id travels beside the
/// ciphertext so old keys keep decrypting after a rotation.
/// </summary>
internal sealed class SecretProtector(KeyRing keys)
{
    private const byte FormatVersion = 1;
    private const int NonceSize = 12;
    private const int TagSize = 16;

    public string ActiveKeyId => keys.ActiveKeyId;

    public byte[] Protect(ReadOnlySpan<byte> plaintext, SecretContext context)
    {
        var keyId = Encoding.ASCII.GetBytes(keys.ActiveKeyId);
        if (keyId.Length > byte.MaxValue)
        {
            throw new InvalidOperationException("Encryption key ids must be at most 255 characters.");
        }

        var headerLength = 2 + keyId.Length;
        var output = new byte[headerLength + NonceSize + TagSize + plaintext.Length];
        output[0] = FormatVersion;
        output[1] = (byte)keyId.Length;
        keyId.CopyTo(output, 2);
        var nonce = output.AsSpan(headerLength, NonceSize);
        var tag = output.AsSpan(headerLength + NonceSize, TagSize);
        var cipher = output.AsSpan(headerLength + NonceSize + TagSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(keys.ActiveKey, TagSize);
        aes.Encrypt(nonce, plaintext, cipher, tag, context.AssociatedData(output.AsSpan(0, headerLength)));
        return output;
    }

    /// <summary>Decrypts; <see cref="SecretUnreadableException"/> when the key is unknown or the blob was altered or moved.</summary>
    public byte[] Unprotect(ReadOnlySpan<byte> blob, SecretContext context, out string keyId)
    {
        if (blob.Length < 2 || blob[0] != FormatVersion || blob.Length < 2 + blob[1] + NonceSize + TagSize)
        {
            throw new SecretUnreadableException("The stored secret has an unknown format.");
        }

        var headerLength = 2 + blob[1];
        keyId = Encoding.ASCII.GetString(blob[2..headerLength]);
        if (!keys.TryGetKey(keyId, out var key))
        {
            throw new SecretUnreadableException($"The stored secret was encrypted with key '{keyId}', which MailGrpc:Encryption:Keys no longer lists.");
        }

        var nonce = blob.Slice(headerLength, NonceSize);
        var tag = blob.Slice(headerLength + NonceSize, TagSize);
        var cipher = blob[(headerLength + NonceSize + TagSize)..];
        var plain = new byte[cipher.Length];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(nonce, cipher, tag, plain, context.AssociatedData(blob[..headerLength]));
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new SecretUnreadableException("The stored secret failed authentication (altered, or stored under another mailbox).", ex);
        }

        return plain;
    }

    /// <summary>The key id a blob was written with, without decrypting it.</summary>
    public static string? KeyIdOf(ReadOnlySpan<byte> blob) =>
        blob.Length >= 2 && blob[0] == FormatVersion && blob.Length >= 2 + blob[1] ? Encoding.ASCII.GetString(blob.Slice(2, blob[1])) : null;
}

/// <summary>What a ciphertext belongs to; becomes the AES-GCM associated data.</summary>
internal readonly record struct SecretContext(string Purpose, string Tenant, string MailboxId)
{
    public byte[] AssociatedData(ReadOnlySpan<byte> header)
    {
        // The header (format, key id) is authenticated too, so a key id cannot be swapped.
        var text = Encoding.UTF8.GetBytes($"mailgrpc/v1|{Purpose}|{Tenant}|{MailboxId}|");
        var data = new byte[text.Length + header.Length + 4];
        text.CopyTo(data, 0);
        header.CopyTo(data.AsSpan(text.Length));
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(text.Length + header.Length), header.Length);
        return data;
    }

    public static SecretContext Credential(string tenant, string mailboxId) => new("credential", tenant, mailboxId);

    public static SecretContext MsalCache(string tenant, string mailboxId) => new("msal-cache", tenant, mailboxId);

    public static SecretContext PendingAuthorization(string state) => new("pending-authorization", "-", state);
}

/// <summary>A stored secret that cannot be decrypted (unknown key id, tampering, wrong mailbox).</summary>
internal sealed class SecretUnreadableException : Exception
{
    public SecretUnreadableException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }

    public SecretUnreadableException()
    {
    }

    public SecretUnreadableException(string message)
        : base(message)
    {
    }
}
