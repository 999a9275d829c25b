using Google.Protobuf.WellKnownTypes;
using MimeKit;
using MimeKit.Utils;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.Messages;

/// <summary>Builds the v1 <see cref="V1.Envelope"/> from headers or a whole message, parsed by MimeKit.</summary>
internal static class EnvelopeReader
{
    /// <summary>Parses a whole message (seekable stream, left at its start) for envelope and attachments.</summary>
    public static async Task<V1.Envelope> FromMessageAsync(Stream stream, CancellationToken cancellationToken)
    {
        var start = stream.Position;
        try
        {
            // persistent: content stays in the source stream instead of being copied (the message is already in memory).
            using var message = await MimeMessage.LoadAsync(ParserOptions.Default, stream, persistent: true, cancellationToken);
            var envelope = FromHeaders(message.Headers);
            foreach (var part in message.Attachments)
            {
                var attachment = new V1.Attachment { ContentType = part.ContentType?.MimeType ?? string.Empty, FileName = FileName(part) ?? string.Empty };
                // The encoded size: decoding every attachment just to count it would cost a copy of the message.
                if (part is MimePart { Content.Stream: { CanSeek: true } content })
                {
                    attachment.Size = content.Length;
                }

                envelope.Attachments.Add(attachment);
            }

            return envelope;
        }
        catch (FormatException)
        {
            return new V1.Envelope();
        }
        finally
        {
            stream.Position = start;
        }
    }

    /// <summary>Parses only a header block (TOP n 0).</summary>
    public static async Task<V1.Envelope> FromHeaderStreamAsync(Stream stream, CancellationToken cancellationToken)
    {
        try
        {
            var headers = await HeaderList.LoadAsync(ParserOptions.Default, stream, cancellationToken);
            return FromHeaders(headers);
        }
        catch (FormatException)
        {
            return new V1.Envelope();
        }
    }

    private static string? FileName(MimeEntity part) => part switch
    {
        MimePart p => p.FileName,
        _ => part.ContentDisposition?.FileName ?? part.ContentType?.Name,
    };

    private static V1.Envelope FromHeaders(HeaderList headers)
    {
        var envelope = new V1.Envelope
        {
            Subject = headers[HeaderId.Subject] ?? string.Empty,
            MessageId = Unbracket(headers[HeaderId.MessageId]),
            InReplyTo = Unbracket(headers[HeaderId.InReplyTo]),
        };
        AddAddresses(envelope.From, headers[HeaderId.From]);
        AddAddresses(envelope.To, headers[HeaderId.To]);
        AddAddresses(envelope.Cc, headers[HeaderId.Cc]);
        AddAddresses(envelope.ReplyTo, headers[HeaderId.ReplyTo]);
        if (headers[HeaderId.Date] is { } date && DateUtils.TryParse(date, out var parsed))
        {
            envelope.Date = Timestamp.FromDateTimeOffset(parsed);
        }

        return envelope;
    }

    private static void AddAddresses(Google.Protobuf.Collections.RepeatedField<V1.Address> target, string? value)
    {
        if (string.IsNullOrWhiteSpace(value) || !InternetAddressList.TryParse(value, out var list))
        {
            return;
        }

        foreach (var mailbox in list.Mailboxes)
        {
            target.Add(new V1.Address { Name = mailbox.Name ?? string.Empty, Address_ = mailbox.Address ?? string.Empty });
        }
    }

    private static string Unbracket(string? value)
    {
        var trimmed = value?.Trim() ?? string.Empty;
        return trimmed.Length >= 2 && trimmed[0] == '<' && trimmed[^1] == '>' ? trimmed[1..^1] : trimmed;
    }
}
