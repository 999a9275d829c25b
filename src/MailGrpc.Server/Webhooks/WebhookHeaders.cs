namespace MailGrpc.Server.Webhooks;

/// <summary>The three Standard Webhooks headers, exactly as the specification names them.</summary>
internal static class WebhookHeaderNames
{
    /// <summary>The event's id: the same on every retry, so receivers dedupe on it.</summary>
    public const string Id = "webhook-id";

    /// <summary>When this attempt was signed, in whole seconds since the Unix epoch.</summary>
    public const string Timestamp = "webhook-timestamp";

    /// <summary>Space-separated <c>v1,&lt;base64 HMAC-SHA256&gt;</c> signatures, one per active secret.</summary>
    public const string Signature = "webhook-signature";
}

/// <summary>The header values of one signed delivery attempt.</summary>
internal sealed record WebhookSignatureHeaders(string Id, string Timestamp, string Signature);
