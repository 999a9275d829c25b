using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Hosting;

/// <summary>
/// What a failed start prints and returns: one line per problem on stderr (the setting, what is wrong with its value,
/// the fix) and a documented exit code (docs/configuration.md, "Start-up errors") — never a stack trace, never an
/// unhandled exception (which the native AOT executable turns into SIGABRT).
/// </summary>
internal static partial class StartupFailure
{
    /// <summary>A setting is missing or invalid (sysexits EX_CONFIG).</summary>
    public const int ConfigurationError = 78;

    /// <summary>A listen address cannot be bound: in use, not permitted, or not on this machine (sysexits EX_UNAVAILABLE).</summary>
    public const int BindError = 69;

    /// <summary>Anything else that stopped the start; a bug to report (sysexits EX_SOFTWARE).</summary>
    public const int UnexpectedError = 70;

    public const string Prefix = "MailGrpc cannot start:";

    /// <summary>The lines to print and the exit code for an exception that ended the start.</summary>
    public static (IReadOnlyList<string> Lines, int ExitCode) Explain(Exception exception, IConfiguration? configuration)
    {
        var error = Unwrap(exception);
        switch (error)
        {
            case OptionsValidationException validation:
                return ([.. validation.Failures.Select(f => $"{Prefix} {OneLine(f)}")], ConfigurationError);

            case IOException io when io.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException || Socket(io) is SocketError.AddressAlreadyInUse:
            {
                var (key, url) = Endpoint(io.Message, configuration);
                return ([$"{Prefix} {key} = {url}: the address is already in use by another process. Fix: stop that process, or set {key} (env {EnvName(key)}) to a free port."], BindError);
            }

            case IOException io when Socket(io) is SocketError.AccessDenied:
            {
                var (key, url) = Endpoint(io.Message, configuration);
                return ([$"{Prefix} {key} = {url}: this user may not listen on that port (ports below 1024 need root or CAP_NET_BIND_SERVICE). Fix: set {key} (env {EnvName(key)}) to a port of 1024 or more."], BindError);
            }

            case IOException io when Socket(io) is SocketError.AddressNotAvailable:
            {
                var (key, url) = Endpoint(io.Message, configuration);
                return ([$"{Prefix} {key} = {url}: no network interface of this machine has that address. Fix: set {key} (env {EnvName(key)}) to one of this machine's addresses (127.0.0.1, or 0.0.0.0 for all)."], BindError);
            }

            case InvalidOperationException conversion when ConversionFailure().Match(conversion.Message) is { Success: true } match:
            {
                var key = match.Groups["key"].Value;
                var type = match.Groups["type"].Value;
                return ([$"{Prefix} {key}: the value is not a valid {FriendlyType(type)}. Fix: {FormatHint(type)} (docs/configuration.md lists every key)."], ConfigurationError);
            }

            case UriFormatException or FormatException when error.StackTrace?.Contains("Kestrel", StringComparison.Ordinal) == true || error.Message.Contains("address", StringComparison.OrdinalIgnoreCase):
                return ([$"{Prefix} Kestrel:Endpoints:<name>:Url: {OneLine(error.Message)} Fix: use a URL such as http://127.0.0.1:5080 (docs/configuration.md)."], ConfigurationError);

            case InvalidOperationException kestrel when kestrel.Message.Contains("Kestrel", StringComparison.Ordinal) || kestrel.Message.Contains("endpoint", StringComparison.OrdinalIgnoreCase):
                return ([$"{Prefix} Kestrel:Endpoints: {OneLine(kestrel.Message)} Fix: check the Kestrel:Endpoints:<name>:Url and :Protocols settings (docs/configuration.md)."], ConfigurationError);

            default:
                return ([$"{Prefix} unexpected {error.GetType().Name}: {OneLine(error.Message)} This is a bug: please report it with this line."], UnexpectedError);
        }
    }

    /// <summary>Prints the explanation on stderr and returns the exit code.</summary>
    public static int Report(Exception exception, IConfiguration? configuration)
    {
        var (lines, code) = Explain(exception, configuration);
        foreach (var line in lines)
        {
            Console.Error.WriteLine(line);
        }

        Console.Error.Flush();
        return code;
    }

    /// <summary>
    /// Stops a host whose start failed, before it is disposed: the host then sees its background services end as
    /// stopped, not failed. Best effort: the start's own error is what gets reported.
    /// </summary>
    public static async Task StopQuietlyAsync(IHost host)
    {
        StartupLogFilter.Failed = true;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await host.StopAsync(timeout.Token);
        }
        catch (Exception)
        {
            // Nothing to add: the exception that ended the start is reported instead.
        }
    }

    private static Exception Unwrap(Exception exception)
    {
        while (exception is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            exception = aggregate.InnerExceptions[0];
        }

        // Each options section is validated on its own (ValidateOnStart): every section's failures are reported together.
        if (exception is AggregateException many && many.InnerExceptions.OfType<OptionsValidationException>().ToArray() is { Length: > 0 } validations)
        {
            return validations.Length == 1
                ? validations[0]
                : new OptionsValidationException(validations[0].OptionsName, validations[0].OptionsType, validations.SelectMany(v => v.Failures));
        }

        // The configuration binder wraps a conversion failure's cause; the outer message names the key.
        return exception;
    }

    private static SocketError? Socket(Exception exception)
    {
        for (var e = exception.InnerException; e is not null; e = e.InnerException)
        {
            if (e is SocketException socket)
            {
                return socket.SocketErrorCode;
            }
        }

        return null;
    }

    /// <summary>Which <c>Kestrel:Endpoints:&lt;name&gt;:Url</c> a bind error is about, from the address Kestrel names.</summary>
    private static (string Key, string Url) Endpoint(string message, IConfiguration? configuration)
    {
        var url = BindAddress().Match(message) is { Success: true } m ? m.Groups["url"].Value.TrimEnd('/') : "?";
        var endpoints = configuration?.GetSection("Kestrel:Endpoints").GetChildren() ?? [];
        var port = HostPort().Match(url) is { Success: true } p ? p.Groups["port"].Value : null;
        foreach (var endpoint in endpoints)
        {
            var configured = endpoint["Url"];
            if (configured is null)
            {
                continue;
            }

            if (string.Equals(configured.TrimEnd('/'), url, StringComparison.OrdinalIgnoreCase)
                || (port is not null && HostPort().Match(configured) is { Success: true } c && c.Groups["port"].Value == port))
            {
                return ($"Kestrel:Endpoints:{endpoint.Key}:Url", url);
            }
        }

        return ("Kestrel:Endpoints:<name>:Url", url);
    }

    private static string EnvName(string key) => key.Replace(":", "__", StringComparison.Ordinal);

    private static string FriendlyType(string type) => type switch
    {
        "System.TimeSpan" => "time span",
        "System.Int32" or "System.Int64" => "whole number",
        "System.Boolean" => "boolean",
        _ when type.EndsWith("OAuthProviderKind", StringComparison.Ordinal) => "provider name",
        _ => type[(type.LastIndexOf('.') + 1)..],
    };

    private static string FormatHint(string type) => type switch
    {
        "System.TimeSpan" => "write a time span as hh:mm:ss, e.g. 00:00:15 for 15 seconds",
        "System.Int32" or "System.Int64" => "write a whole number without units",
        "System.Boolean" => "write true or false",
        _ when type.EndsWith("OAuthProviderKind", StringComparison.Ordinal) => "use Microsoft, Google or Generic",
        _ => "correct the value",
    };

    private static string OneLine(string text)
    {
        var line = text.ReplaceLineEndings(" ").Trim();
        return line.Length <= 400 ? line : line[..400] + "…";
    }

    // The binder's message also holds the value, which is never echoed (it could be a secret).
    [GeneratedRegex(@"configuration value (?:'.*' )?at '(?<key>[^']+)' to type '(?<type>[^']+)'")]
    private static partial Regex ConversionFailure();

    [GeneratedRegex(@"(?<url>[a-z]+://[^\s:]+(:\d+)?)")]
    private static partial Regex BindAddress();

    [GeneratedRegex(@":(?<port>\d+)/?$")]
    private static partial Regex HostPort();
}
