using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Authorization.Flows;

/// <summary>
/// ASP.NET Core's request log (<c>Microsoft.AspNetCore.Hosting.Diagnostics</c>: "Request starting … /oauth/callback?code=…")
/// writes the whole query string, which on the callback holds an authorization code and its state. That category is held at
/// Warning whatever the configuration says — for every logger provider a rule names — so no level setting can put a code
/// in a log. MailGrpc's own lines say what the callback did, without the query.
/// </summary>
internal static class CallbackLogRedaction
{
    public const string RequestLogCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    public static IServiceCollection AddCallbackLogRedaction(this IServiceCollection services) =>
        services.AddSingleton<IPostConfigureOptions<LoggerFilterOptions>, CapRequestLog>();

    private sealed class CapRequestLog : IPostConfigureOptions<LoggerFilterOptions>
    {
        public void PostConfigure(string? name, LoggerFilterOptions options)
        {
            // Rules are matched per provider first, then by the longest category prefix, the last one winning a tie: add
            // ours last, for the provider-agnostic case and for each provider some rule names.
            foreach (var provider in options.Rules.Select(r => r.ProviderName).Append(null).Distinct(StringComparer.Ordinal).ToList())
            {
                options.Rules.Add(new LoggerFilterRule(provider, RequestLogCategory, LogLevel.Warning, null));
            }
        }
    }
}
