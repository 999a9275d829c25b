using Google.Protobuf.WellKnownTypes;
using MailGrpc.Server.Diagnostics;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>A diagnosis → the API's <c>DiagnoseMailboxResponse</c>; enums member by member, never by number.</summary>
internal static class DiagnosisProtoMapper
{
    public static V1.DiagnoseMailboxResponse ToProto(this MailboxDiagnosis diagnosis)
    {
        var response = new V1.DiagnoseMailboxResponse { Healthy = diagnosis.Healthy };
        response.Steps.AddRange(diagnosis.Steps.Select(ToProto));
        return response;
    }

    public static V1.DiagnosticStep ToProto(this DiagnosticStep step) => new()
    {
        Kind = ToProto(step.Kind),
        Outcome = ToProto(step.Outcome),
        Reason = step.Reason,
        Detail = step.Detail,
        Hint = step.Hint,
        Duration = Duration.FromTimeSpan(step.Duration),
    };

    public static V1.DiagnosticStepKind ToProto(DiagnosticStepKind kind) => kind switch
    {
        DiagnosticStepKind.Dns => V1.DiagnosticStepKind.Dns,
        DiagnosticStepKind.Tcp => V1.DiagnosticStepKind.Tcp,
        DiagnosticStepKind.Tls => V1.DiagnosticStepKind.Tls,
        DiagnosticStepKind.Capa => V1.DiagnosticStepKind.Capa,
        DiagnosticStepKind.Token => V1.DiagnosticStepKind.Token,
        DiagnosticStepKind.Auth => V1.DiagnosticStepKind.Auth,
        DiagnosticStepKind.Stat => V1.DiagnosticStepKind.Stat,
        _ => V1.DiagnosticStepKind.Unspecified,
    };

    public static V1.DiagnosticOutcome ToProto(DiagnosticOutcome outcome) => outcome switch
    {
        DiagnosticOutcome.Ok => V1.DiagnosticOutcome.Ok,
        DiagnosticOutcome.Warning => V1.DiagnosticOutcome.Warning,
        DiagnosticOutcome.Failed => V1.DiagnosticOutcome.Failed,
        DiagnosticOutcome.Skipped => V1.DiagnosticOutcome.Skipped,
        _ => V1.DiagnosticOutcome.Unspecified,
    };
}
