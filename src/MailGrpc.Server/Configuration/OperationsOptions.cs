namespace MailGrpc.Server.Configuration;

/// <summary>How the server stops: what a SIGTERM leaves running streams before the host gives up on them.</summary>
internal sealed class ShutdownOptions
{
    public const string SectionName = "MailGrpc:Shutdown";

    /// <summary>
    /// How long running calls (streams in particular) may go on after a stop signal before they are cancelled.
    /// Keep it below the orchestrator's grace period (Kubernetes <c>terminationGracePeriodSeconds</c>).
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(25);
}

/// <summary>Traces and metrics.</summary>
internal sealed class TelemetryOptions
{
    public const string SectionName = "MailGrpc:Telemetry";

    /// <summary>The <c>service.name</c> resource attribute on every trace and metric.</summary>
    public string ServiceName { get; set; } = "mailgrpc";

    /// <summary>An OTLP (gRPC) collector for traces and metrics, e.g. <c>http://otel-collector:4317</c>; empty exports none.</summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary>The path of the Prometheus scrape endpoint, served only on the Kestrel endpoint named <c>Metrics</c>.</summary>
    public string PrometheusPath { get; set; } = "/metrics";
}

/// <summary>DiagnoseMailbox's bounds (section <c>MailGrpc:Diagnostics</c>).</summary>
internal sealed class DiagnosticsOptions
{
    public const string SectionName = "MailGrpc:Diagnostics";

    /// <summary>The whole diagnosis answers within this; steps not reached by then are reported as skipped.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>The longest one step (DNS, TCP, TLS, CAPA, TOKEN, AUTH, STAT) may take.</summary>
    public TimeSpan StepTimeout { get; set; } = TimeSpan.FromSeconds(15);
}
