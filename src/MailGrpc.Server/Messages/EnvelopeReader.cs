using MimeKit;
using MimeKit.Utils;

namespace MailGrpc.Server.Messages;

/// <summary>Builds a <see cref="MessageEnvelope"/> from headers or a whole message, parsed by MimeKit.</summary>
internal static class EnvelopeReader
{
    /// <summary>Parses a whole message (seekable stream, left at its start) for envelope and attachments.</summary>
    public static async Task<MessageEnvelope> FromMessageAsync(Stream stream, CancellationToken cancellationToken)
    {
        var start = stream.Position;
        try
        {
            // persistent: content stays in the source stream instead of being copied (the message is already in memory).
            using var message = await MimeMessage.LoadAsync(ParserOptions.Default, stream, persistent: true, cancellationToken);
            var attachments = new List<AttachmentInfo>();
            foreach (var part in message.Attachments)
            {
                // The encoded size: decoding every attachment just to count it would cost a copy of the message.
                var size = part is MimePart { Content.Stream: { CanSeek: true } content } ? content.Length : 0;
                attachments.Add(new AttachmentInfo(FileName(part) ?? string.Empty, part.ContentType?.MimeType ?? string.Empty, size));
            }

            return FromHeaders(message.Headers, attachments);
        }
        catch (FormatException)
        {
            return MessageEnvelope.Empty;
        }
        finally
        {
            stream.Position = start;
        }
    }

    /// <summary>Parses only a header block (TOP n 0).</summary>
    public static async Task<MessageEnvelope> FromHeaderStreamAsync(Stream stream, CancellationToken cancellationToken)
    {
        try
        {
            var headers = await HeaderList.LoadAsync(ParserOptions.Default, stream, cancellationToken);
            return FromHeaders(headers, []);
        }
        catch (FormatException)
        {
            return MessageEnvelope.Empty;
        }
    }

    private static string? FileName(MimeEntity part) => part switch
    {
        MimePart p => p.FileName,
        _ => part.ContentDisposition?.FileName ?? part.ContentType?.Name,
    };

    private static MessageEnvelope FromHeaders(HeaderList headers, IReadOnlyList<AttachmentInfo> attachments) => new(
        headers[HeaderId.Subject] ?? string.Empty,
        Addresses(headers[HeaderId.From]),
        Addresses(headers[HeaderId.To]),
        Addresses(headers[HeaderId.Cc]),
        Addresses(headers[HeaderId.ReplyTo]),
        headers[HeaderId.Date] is { } date && DateUtils.TryParse(date, out var parsed) ? parsed : null,
        Unbracket(headers[HeaderId.MessageId]),
        Unbracket(headers[HeaderId.InReplyTo]),
        attachments);

    private static List<MailAddress> Addresses(string? value)
    {
        var result = new List<MailAddress>();
        if (string.IsNullOrWhiteSpace(value) || !InternetAddressList.TryParse(value, out var list))
        {
            return result;
        }

        foreach (var mailbox in list.Mailboxes)
        {
            result.Add(new MailAddress(mailbox.Name ?? string.Empty, mailbox.Address ?? string.Empty));
        }

        return result;
    }

    private static string Unbracket(string? value)
    {
        var trimmed = value?.Trim() ?? string.Empty;
        return trimmed.Length >= 2 && trimmed[0] == '<' && trimmed[^1] == '>' ? trimmed[1..^1] : trimmed;
    }
}
