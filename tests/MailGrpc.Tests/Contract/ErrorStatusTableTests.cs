using System.Text;
using Google.Rpc;
using Grpc.Core;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Pop3;

namespace MailGrpc.Tests.Contract;

/// <summary>
/// The one exception → status table (<see cref="ExceptionMapper"/>): every error kind has its own status (a kind that
/// falls through to INTERNAL is a bug callers would see), every status carries an ErrorInfo with the reason and its
/// metadata, and exceptions the server did not make are never echoed.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class ErrorStatusTableTests
{
    public static TheoryData<string> Kinds => [.. Enum.GetNames<ErrorKind>()];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Each_kind_is_sent_as_the_status_of_the_same_name(string name)
    {
        var kind = Enum.Parse<ErrorKind>(name);
        // The kinds mirror the gRPC codes they stand for; only Internal may become INTERNAL.
        Assert.Equal(kind.ToString(), ExceptionMapper.ToStatusCode(kind).ToString());
    }

    [Fact]
    public void No_two_kinds_share_a_status()
    {
        var codes = Enum.GetValues<ErrorKind>().Select(ExceptionMapper.ToStatusCode).ToList();
        Assert.Equal(codes.Count, codes.Distinct().Count());
    }

    [Fact]
    public void A_status_carries_error_info_with_reason_domain_and_metadata_and_retry_info_only_with_a_delay()
    {
        var error = new MailGrpcException(ErrorKind.Unavailable, ErrorReasons.MailboxBusy, "busy", new Dictionary<string, string> { ["retry_after_seconds"] = "30" })
        {
            RetryDelay = TimeSpan.FromSeconds(30),
        };
        var rpc = ExceptionMapper.ToRpcException(error);
        Assert.Equal(StatusCode.Unavailable, rpc.StatusCode);
        var status = rpc.GetRpcStatus()!;
        var info = status.GetDetail<ErrorInfo>()!;
        Assert.Equal("MAILBOX_BUSY", info.Reason);
        Assert.Equal("mailgrpc.v1", info.Domain);
        Assert.Equal("30", info.Metadata["retry_after_seconds"]);
        Assert.Equal(TimeSpan.FromSeconds(30), status.GetDetail<RetryInfo>()!.RetryDelay.ToTimeSpan());

        var noDelay = ExceptionMapper.ToRpcException(new MailGrpcException(ErrorKind.NotFound, ErrorReasons.InvalidArgument, "x")).GetRpcStatus()!;
        Assert.Null(noDelay.GetDetail<RetryInfo>());
        Assert.NotNull(noDelay.GetDetail<ErrorInfo>());
    }

    [Fact]
    public void An_unknown_exception_becomes_internal_without_its_message()
    {
        var leaky = new InvalidOperationException("GET https://idp.example/token?client_secret=s3cr3t failed");
        var error = ExceptionMapper.Classify(leaky, CancellationToken.None);
        Assert.Equal(ErrorKind.Internal, error.Kind);
        Assert.Equal("INTERNAL", error.Reason);
        var rpc = ExceptionMapper.ToRpcException(leaky, CancellationToken.None);
        Assert.Equal(StatusCode.Internal, rpc.StatusCode);
        Assert.DoesNotContain("s3cr3t", rpc.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", rpc.GetRpcStatus()!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Cancellation_is_cancelled_only_when_the_caller_cancelled_otherwise_a_retryable_timeout()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Equal(("CANCELLED", ErrorKind.Cancelled), Reason(new OperationCanceledException(), cancelled.Token));
        Assert.Equal(("TIMEOUT", ErrorKind.Unavailable), Reason(new OperationCanceledException(), CancellationToken.None));
        Assert.Equal(("TIMEOUT", ErrorKind.Unavailable), Reason(new TimeoutException(), CancellationToken.None));
    }

    public static TheoryData<Exception, string, string> Pop3Failures => new()
    {
        { new Pop3TransportException(Pop3TransportFailure.Connect, "no route"), "POP3_CONNECT_FAILED", "Unavailable" },
        { new Pop3TransportException(Pop3TransportFailure.Timeout, "slow"), "POP3_TIMEOUT", "Unavailable" },
        { new Pop3TransportException(Pop3TransportFailure.ConnectionLost, "reset"), "POP3_CONNECTION_LOST", "Unavailable" },
        { new MailKit.Net.Pop3.Pop3CommandException("RETR failed", "[IN-USE] Mailbox locked"), "MAILBOX_BUSY", "Unavailable" },
        { new MailKit.Net.Pop3.Pop3CommandException("RETR failed", "No such message"), "POP3_COMMAND_FAILED", "Unavailable" },
        { new MailKit.Net.Pop3.Pop3ProtocolException("garbage"), "POP3_CONNECTION_LOST", "Unavailable" },
        { new MailKit.Security.SslHandshakeException("bad certificate"), "POP3_TLS_FAILED", "FailedPrecondition" },
    };

    [Theory]
    [MemberData(nameof(Pop3Failures))]
    public void Pop3_failures_are_retryable_or_say_what_to_fix(Exception exception, string reason, string kind)
    {
        Assert.Equal((reason, Enum.Parse<ErrorKind>(kind)), Reason(exception, CancellationToken.None));
        // A POP3 command reply is server text: it is not echoed.
        if (exception is MailKit.Net.Pop3.Pop3CommandException command)
        {
            Assert.DoesNotContain(command.StatusText, ExceptionMapper.Classify(exception, CancellationToken.None).Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_body_that_is_not_utf8_is_invalid_argument_naming_the_cause_and_other_exceptions_are_not_body_errors()
    {
        var rpc = ExceptionMapper.MalformedRequest(new DecoderFallbackException("bad byte"));
        Assert.NotNull(rpc);
        Assert.Equal(StatusCode.InvalidArgument, rpc!.StatusCode);
        var info = rpc.GetRpcStatus()!.GetDetail<ErrorInfo>()!;
        Assert.Equal("INVALID_ARGUMENT", info.Reason);
        Assert.Equal("invalid_utf8", info.Metadata["cause"]);
        Assert.Equal("request", info.Metadata["field"]);
        Assert.Null(ExceptionMapper.MalformedRequest(new InvalidOperationException("not about the body")));
    }

    private static (string Reason, ErrorKind Kind) Reason(Exception exception, CancellationToken callCancelled)
    {
        var error = ExceptionMapper.Classify(exception, callCancelled);
        return (error.Reason, error.Kind);
    }
}
