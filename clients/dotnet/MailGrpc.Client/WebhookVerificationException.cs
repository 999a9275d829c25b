namespace MailGrpc.Client;

/// <summary>Why a webhook delivery did not verify; the same codes in every MailGrpc SDK.</summary>
public enum WebhookVerificationErrorCode
{
    /// <summary>Not a failure (the default value).</summary>
    Unspecified = 0,

    /// <summary>The secret is not <c>whsec_</c> followed by base64.</summary>
    InvalidSecret = 1,

    /// <summary>A <c>webhook-id</c>, <c>webhook-timestamp</c> or <c>webhook-signature</c> header is missing or empty.</summary>
    MissingHeader = 2,

    /// <summary><c>webhook-timestamp</c> is not a whole number of seconds since the Unix epoch.</summary>
    InvalidTimestamp = 3,

    /// <summary>The delivery was signed longer ago than the tolerance (a replay, or a very slow hop).</summary>
    TimestampTooOld = 4,

    /// <summary>The delivery is signed further ahead of this clock than the tolerance (a clock off).</summary>
    TimestampTooNew = 5,

    /// <summary>No <c>v1</c> signature matches: the body, id or timestamp changed, or the secret is another one.</summary>
    InvalidSignature = 6,

    /// <summary>The signature matches but the body is not JSON.</summary>
    InvalidPayload = 7,
}

/// <summary>A webhook delivery that did not verify: <see cref="Code"/> says why. Answer the request with 400 and do not process it.</summary>
public sealed class WebhookVerificationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public WebhookVerificationException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public WebhookVerificationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public WebhookVerificationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a code.</summary>
    /// <param name="code">Why the delivery did not verify.</param>
    /// <param name="message">What went wrong.</param>
    /// <param name="header">The missing header, for <see cref="WebhookVerificationErrorCode.MissingHeader"/>.</param>
    public WebhookVerificationException(WebhookVerificationErrorCode code, string message, string? header = null)
        : base(message)
    {
        Code = code;
        Header = header;
    }

    /// <summary>Why the delivery did not verify.</summary>
    public WebhookVerificationErrorCode Code { get; }

    /// <summary>The missing header's name, for <see cref="WebhookVerificationErrorCode.MissingHeader"/>; otherwise null.</summary>
    public string? Header { get; }
}
