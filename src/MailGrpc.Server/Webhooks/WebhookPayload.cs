using System.Globalization;
using System.Text.Json;
using MailGrpc.Server.Events;

namespace MailGrpc.Server.Webhooks;

/// <summary>
/// The body of a delivery, per the Standard Webhooks payload structure: <c>{"type","timestamp","data"}</c> with the event's
/// type, when it happened (ISO 8601 UTC, milliseconds) and its data JSON as is.
/// </summary>
internal static class WebhookPayload
{
    public static byte[] Build(MailEvent mailEvent)
    {
        ArgumentNullException.ThrowIfNull(mailEvent);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", mailEvent.Type);
            writer.WriteString("timestamp", mailEvent.OccurredAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            writer.WritePropertyName("data");
            // Validated, so a malformed data string fails here (the event is dead-lettered) instead of at every receiver.
            writer.WriteRawValue(string.IsNullOrEmpty(mailEvent.Data) ? "{}" : mailEvent.Data);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
