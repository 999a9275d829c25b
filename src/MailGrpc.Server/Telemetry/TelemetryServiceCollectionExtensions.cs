using System.Globalization;
using System.Text.RegularExpressions;
using MailGrpc.Server.Configuration;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace MailGrpc.Server.Telemetry;

/// <summary>
/// OpenTelemetry traces and metrics: ASP.NET Core (every gRPC call), the OAuth HTTP client, gRPC clients, MailKit's POP3
/// client and sockets, and MailGrpc's own meter; a Prometheus scrape endpoint on the Kestrel endpoint named
/// <c>Metrics</c>; OTLP export when <c>MailGrpc:Telemetry:OtlpEndpoint</c> is set.
/// </summary>
internal static partial class TelemetryServiceCollectionExtensions
{
    public const string MetricsEndpointName = "Metrics";

    public static WebApplicationBuilder AddMailGrpcTelemetry(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        builder.Services.AddSingleton<MailGrpcMetrics>();
        var metricsPort = PortOf(builder.Configuration[$"Kestrel:Endpoints:{MetricsEndpointName}:Url"]);

        // MailKit's meters are deliberately left unconfigured: in MailKit 4.18.2, while anything listens to them,
        // Pop3Client.Dispose after a clean Disconnect throws NullReferenceException (ClientMetrics.GetTags gets a null Uri,
        // the POP3 twin of MailKit issue #1816). Its activity source is safe; POP3 session metrics come from MailGrpcMetrics.
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(options.ServiceName, serviceInstanceId: Environment.MachineName))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddMeter(MailGrpcMetrics.MeterName, "Grpc.Net.Client")
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));

        // Traces only where they go somewhere: an always-on sampler with no exporter would still build an Activity for
        // every call on the hot path.
        if (options.OtlpEndpoint is { } endpoint)
        {
            otel.WithTracing(tracing => tracing
                    .AddAspNetCoreInstrumentation(o => o.Filter = context => metricsPort is null || context.Connection.LocalPort != metricsPort)
                    .AddHttpClientInstrumentation()
                    .AddGrpcClientInstrumentation()
                    .AddSource(MailKit.Telemetry.Pop3Client.ActivitySourceName, MailGrpcMetrics.ActivitySourceName)
                    .AddOtlpExporter(o => o.Endpoint = endpoint))
                .WithMetrics(metrics => metrics.AddOtlpExporter(o => o.Endpoint = endpoint));
        }

        return builder;
    }

    /// <summary>Serves the scrape path only on the <c>Metrics</c> endpoint's port, so callers of the gRPC port never see it.</summary>
    public static WebApplication MapMailGrpcTelemetry(this WebApplication app)
    {
        var options = app.Configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        var port = PortOf(app.Configuration[$"Kestrel:Endpoints:{MetricsEndpointName}:Url"]);
        if (port is null)
        {
            return app;
        }

        app.UseOpenTelemetryPrometheusScrapingEndpoint(
            meterProvider: null,
            predicate: context => context.Connection.LocalPort == port && context.Request.Path == options.PrometheusPath,
            path: null,
            configureBranchedPipeline: null,
            optionsName: null);
        return app;
    }

    internal static int? PortOf(string? url)
    {
        var match = url is null ? null : UrlPort().Match(url);
        return match is { Success: true } ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    [GeneratedRegex(@":(\d+)/?$")]
    private static partial Regex UrlPort();
}
