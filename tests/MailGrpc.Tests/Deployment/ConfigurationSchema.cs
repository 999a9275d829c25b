using System.Collections;
using System.Reflection;
using MailGrpc.Server.Configuration;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging.Console;

namespace MailGrpc.Tests.Deployment;

/// <summary>
/// Which configuration keys the server binds, read from the options classes by reflection: <c>MailGrpc:*</c> from
/// <see cref="MailGrpcOptions"/> and its children, <c>Kestrel:*</c> from Kestrel's schema, <c>Logging:*</c> from the
/// console logger's options. Dictionaries take any key, lists any index.
/// </summary>
internal static class ConfigurationSchema
{
    public const string AnyKey = "<name>";
    public const string AnyIndex = "<n>";

    private static readonly string[] CertificateKeys = ["Path", "KeyPath", "Password", "Subject", "Store", "Location", "AllowInvalid"];
    private static readonly string[] EndpointKeys = ["Url", "Protocols", "SslProtocols", "ClientCertificateMode"];

    /// <summary>Null when <paramref name="key"/> (":"-separated) binds to a value; otherwise why it does not.</summary>
    public static string? Check(string key)
    {
        var segments = key.Split(':');
        return segments[0].ToUpperInvariant() switch
        {
            "MAILGRPC" => Walk(typeof(MailGrpcOptions), segments.AsSpan(1), key),
            "KESTREL" => CheckKestrel(segments.AsSpan(1), key),
            "LOGGING" => CheckLogging(segments.AsSpan(1), key),
            _ => $"'{key}': the server binds no section '{segments[0]}'",
        };
    }

    /// <summary>Null when an environment variable name is one the server reads (configuration or runtime knob).</summary>
    public static string? CheckEnvironmentVariable(string name)
    {
        if (name.Contains("__", StringComparison.Ordinal))
        {
            return Check(name.Replace("__", ":", StringComparison.Ordinal));
        }

        // Host and runtime settings read straight from the environment, not through the options classes.
        return name is "ASPNETCORE_ENVIRONMENT" or "DOTNET_ENVIRONMENT" || name.StartsWith("DOTNET_gc", StringComparison.Ordinal) || name.StartsWith("DOTNET_GC", StringComparison.Ordinal)
            ? null
            : $"'{name}' is neither a configuration key (Section__Key) nor a runtime setting the server reads";
    }

    /// <summary>Every value key under <c>MailGrpc</c>, with <see cref="AnyKey"/> and <see cref="AnyIndex"/> for dictionary keys and list indexes.</summary>
    public static IEnumerable<string> MailGrpcLeaves() => Leaves(typeof(MailGrpcOptions), MailGrpcOptions.SectionName, 0);

    private static IEnumerable<string> Leaves(Type type, string prefix, int depth)
    {
        if (depth > 8)
        {
            throw new InvalidOperationException($"Options nest too deep at {prefix}.");
        }

        if (IsScalar(type))
        {
            yield return prefix;
            yield break;
        }

        if (DictionaryValueType(type) is { } valueType)
        {
            foreach (var leaf in Leaves(valueType, $"{prefix}:{AnyKey}", depth + 1))
            {
                yield return leaf;
            }

            yield break;
        }

        if (ListElementType(type) is { } elementType)
        {
            foreach (var leaf in Leaves(elementType, $"{prefix}:{AnyIndex}", depth + 1))
            {
                yield return leaf;
            }

            yield break;
        }

        foreach (var property in BindableProperties(type))
        {
            foreach (var leaf in Leaves(property.PropertyType, $"{prefix}:{property.Name}", depth + 1))
            {
                yield return leaf;
            }
        }
    }

    private static string? Walk(Type type, ReadOnlySpan<string> rest, string key)
    {
        if (IsScalar(type))
        {
            return rest.IsEmpty ? null : $"'{key}': '{rest[0]}' is below a value, not a section";
        }

        if (rest.IsEmpty)
        {
            return $"'{key}' names a section ({type.Name}), not a value: a value set there is ignored";
        }

        if (DictionaryValueType(type) is { } valueType)
        {
            return rest[0].Length == 0 ? $"'{key}': empty dictionary key" : Walk(valueType, rest[1..], key);
        }

        if (ListElementType(type) is { } elementType)
        {
            return int.TryParse(rest[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _)
                ? Walk(elementType, rest[1..], key)
                : $"'{key}': '{rest[0]}' must be a list index (0, 1, ...)";
        }

        var segment = rest[0];
        var property = BindableProperties(type).FirstOrDefault(p => string.Equals(p.Name, segment, StringComparison.OrdinalIgnoreCase));
        return property is null
            ? $"'{key}': {type.Name} has no property '{segment}' (known: {string.Join(", ", BindableProperties(type).Select(p => p.Name))})"
            : Walk(property.PropertyType, rest[1..], key);
    }

    private static string? CheckKestrel(ReadOnlySpan<string> rest, string key)
    {
        if (rest.IsEmpty)
        {
            return $"'{key}' names a section";
        }

        switch (rest[0].ToUpperInvariant())
        {
            case "ENDPOINTS":
                return rest.Length >= 3 ? CheckEndpoint(rest[2..], key, allowSni: true) : $"'{key}': expected Kestrel:Endpoints:<name>:<setting>";
            case "ENDPOINTDEFAULTS":
                return rest.Length == 2 && EndpointKeys.Where((_, i) => i > 0).Contains(rest[1], StringComparer.OrdinalIgnoreCase) ? null : $"'{key}' is not an endpoint default";
            case "CERTIFICATES":
                return rest.Length == 3 && CertificateKeys.Contains(rest[2], StringComparer.OrdinalIgnoreCase) ? null : $"'{key}' is not a certificate setting";
            default:
                return Walk(typeof(KestrelServerOptions), rest, key);
        }
    }

    private static string? CheckEndpoint(ReadOnlySpan<string> rest, string key, bool allowSni)
    {
        if (rest.Length == 1 && EndpointKeys.Contains(rest[0], StringComparer.OrdinalIgnoreCase))
        {
            return null;
        }

        if (rest.Length == 2 && rest[0].Equals("Certificate", StringComparison.OrdinalIgnoreCase) && CertificateKeys.Contains(rest[1], StringComparer.OrdinalIgnoreCase))
        {
            return null;
        }

        if (allowSni && rest.Length >= 3 && rest[0].Equals("Sni", StringComparison.OrdinalIgnoreCase))
        {
            return CheckEndpoint(rest[2..], key, allowSni: false);
        }

        return $"'{key}' is not a Kestrel endpoint setting ({string.Join(", ", EndpointKeys)}, Certificate:*, Sni:*)";
    }

    private static string? CheckLogging(ReadOnlySpan<string> rest, string key)
    {
        if (rest.Length == 2 && rest[0].Equals("LogLevel", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (rest.Length == 3 && rest[1].Equals("LogLevel", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (rest.Length >= 2 && rest[0].Equals("Console", StringComparison.OrdinalIgnoreCase))
        {
            if (rest[1].Equals("FormatterOptions", StringComparison.OrdinalIgnoreCase))
            {
                // The formatter is chosen by FormatterName; a key that fits any built-in formatter binds.
                var json = Walk(typeof(JsonConsoleFormatterOptions), rest[2..], key);
                return json is null ? null : Walk(typeof(SimpleConsoleFormatterOptions), rest[2..], key);
            }

            return Walk(typeof(ConsoleLoggerOptions), rest[1..], key);
        }

        return $"'{key}' is not a logging setting (Logging:LogLevel:<category>, Logging:<provider>:LogLevel:<category>, Logging:Console:*)";
    }

    private static IEnumerable<PropertyInfo> BindableProperties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && p.GetMethod is not null)
            .Where(p => p.SetMethod is { IsPublic: true } || !IsScalar(p.PropertyType))
            .Where(p => !typeof(Delegate).IsAssignableFrom(p.PropertyType) && p.PropertyType != typeof(IServiceProvider));

    private static bool IsScalar(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
            || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(Uri) || type == typeof(Guid);
    }

    private static Type? DictionaryValueType(Type type) =>
        GenericInterface(type, typeof(IDictionary<,>)) is { } dictionary && dictionary.GetGenericArguments()[0] == typeof(string)
            ? dictionary.GetGenericArguments()[1]
            : null;

    private static Type? ListElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        return type != typeof(string) && typeof(IEnumerable).IsAssignableFrom(type) && GenericInterface(type, typeof(ICollection<>)) is { } collection
            ? collection.GetGenericArguments()[0]
            : null;
    }

    private static Type? GenericInterface(Type type, Type definition) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == definition
            ? type
            : type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == definition);
}
