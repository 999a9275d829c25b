namespace MailGrpc.Server.Diagnostics;

/// <summary>What a diagnosis found: the steps in the order they ran, and whether every one succeeded.</summary>
internal sealed record MailboxDiagnosis(IReadOnlyList<DiagnosticStep> Steps, bool Healthy);

/// <summary>One step of a diagnosis: a stable <see cref="Reason"/> (empty when it went well), what was seen and what to do.</summary>
internal sealed record DiagnosticStep
{
    public DiagnosticStepKind Kind { get; init; }

    public DiagnosticOutcome Outcome { get; init; }

    public string Reason { get; init; } = string.Empty;

    public string Detail { get; init; } = string.Empty;

    public string Hint { get; init; } = string.Empty;

    public TimeSpan Duration { get; init; }
}

/// <summary>The steps of a diagnosis. Member names are metric tag values (<c>mailgrpc.diagnostic.steps</c>): keep them.</summary>
internal enum DiagnosticStepKind
{
    Unspecified = 0,
    Dns = 1,
    Tcp = 2,
    Tls = 3,
    Capa = 4,
    Token = 5,
    Auth = 6,
    Stat = 7,
}

/// <summary>How a step went. Member names are metric tag values: keep them.</summary>
internal enum DiagnosticOutcome
{
    Unspecified = 0,
    Ok = 1,
    Warning = 2,
    Failed = 3,
    Skipped = 4,
}
