using System.Globalization;
using System.Text;
using MailGrpc.Server.Errors;

namespace MailGrpc.Server.GrpcApi;

/// <summary>
/// Answers a call that authentication refused before it reached gRPC: a trailers-only gRPC response (HTTP 200,
/// <c>grpc-status</c>, <c>grpc-message</c> and the <c>google.rpc.Status</c> with its <c>ErrorInfo</c> in
/// <c>grpc-status-details-bin</c>), exactly what <see cref="ErrorInterceptor"/> sends for the same error. The authorization
/// middleware's own challenge would be a bare HTTP 401, which clients see as UNAUTHENTICATED without a reason.
/// </summary>
internal static class GrpcRefusal
{
    public static Task WriteAsync(HttpContext context, MailGrpcException error)
    {
        var rpc = ExceptionMapper.ToRpcException(error);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)rpc.StatusCode).ToString(CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = PercentEncode(rpc.Status.Detail);
        foreach (var entry in rpc.Trailers)
        {
            response.Headers[entry.Key] = entry.IsBinary ? Convert.ToBase64String(entry.ValueBytes) : entry.Value;
        }

        return Task.CompletedTask;
    }

    /// <summary>gRPC's <c>grpc-message</c> encoding: UTF-8, with bytes outside printable ASCII and '%' as %XX.</summary>
    internal static string PercentEncode(string message)
    {
        var builder = new StringBuilder(message.Length);
        foreach (var b in Encoding.UTF8.GetBytes(message))
        {
            if (b is >= 0x20 and <= 0x7E and not (byte)'%')
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }
}
