using System.IO.Pipelines;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.GrpcApi.Framing;

/// <summary>
/// Puts <see cref="SingleMessageBodyReader"/> in front of the request body of every unary and server-streaming gRPC
/// call, so a badly framed body gets INVALID_ARGUMENT (or RESOURCE_EXHAUSTED) with a reason instead of grpc-dotnet's
/// INTERNAL "Incomplete message.". Client-streaming and bidi calls (reflection) keep the body untouched.
/// </summary>
internal static class RequestFramingMiddleware
{
    public static IApplicationBuilder UseMailGrpcRequestFraming(this IApplicationBuilder app)
    {
        var maxMessageBytes = app.ApplicationServices.GetRequiredService<IOptions<GrpcServiceOptions>>().Value.MaxReceiveMessageSize;
        return app.Use((context, next) =>
        {
            if (context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>() is { Method.Type: MethodType.Unary or MethodType.ServerStreaming })
            {
                context.Features.Set<IRequestBodyPipeFeature>(new BodyPipe(new SingleMessageBodyReader(context.Request.BodyReader, maxMessageBytes)));
            }

            return next(context);
        });
    }

    private sealed class BodyPipe(PipeReader reader) : IRequestBodyPipeFeature
    {
        public PipeReader Reader { get; } = reader;
    }
}
