using System.Reflection;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace MailGrpc.Tests.Configuration;

/// <summary>
/// Each configuration section is its own options type, bound from the documented keys and validated at start with the
/// messages start-up prints; and the one reload policy (read at start) holds for every class of the server.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class OptionsPerSectionTests
{
    private const string ValidKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    [Fact]
    public void Every_section_binds_from_its_documented_keys()
    {
        using var provider = Provider(new()
        {
            ["MailGrpc:ApiKeys:0:Tenant"] = "acme",
            ["MailGrpc:ApiKeys:0:KeyHash"] = new string('a', 64),
            ["MailGrpc:OAuthClients:m365:Provider"] = "Microsoft",
            ["MailGrpc:OAuthClients:m365:ClientId"] = "client-1",
            ["MailGrpc:Redis:ReconcileBatchSize"] = "77",
            ["MailGrpc:Encryption:Keys:k1"] = ValidKey,
            ["MailGrpc:Encryption:ActiveKeyId"] = "k1",
            ["MailGrpc:Network:AllowedHosts:0"] = "pop.internal",
            ["MailGrpc:Tokens:RefreshWait"] = "00:00:07",
            ["MailGrpc:Pop3:BatchSize"] = "12",
            ["MailGrpc:Diagnostics:StepTimeout"] = "00:00:03",
            ["MailGrpc:Shutdown:DrainTimeout"] = "00:00:04",
            ["MailGrpc:Telemetry:PrometheusPath"] = "/scrape",
        });

        var apiKey = Assert.Single(Get<ApiKeysOptions>(provider).ApiKeys);
        Assert.Equal("acme", apiKey.Tenant);
        Assert.Equal(OAuthProviderKind.Microsoft, Get<OAuthClientsOptions>(provider).OAuthClients["m365"].Provider);
        Assert.Equal(77, Get<RedisOptions>(provider).ReconcileBatchSize);
        Assert.Equal("k1", Get<EncryptionOptions>(provider).ActiveKeyId);
        Assert.Equal(["pop.internal"], Get<NetworkOptions>(provider).AllowedHosts);
        Assert.Equal(TimeSpan.FromSeconds(7), Get<TokenOptions>(provider).RefreshWait);
        Assert.Equal(12, Get<Pop3Options>(provider).BatchSize);
        Assert.Equal(TimeSpan.FromSeconds(3), Get<DiagnosticsOptions>(provider).StepTimeout);
        Assert.Equal(TimeSpan.FromSeconds(4), Get<ShutdownOptions>(provider).DrainTimeout);
        Assert.Equal("/scrape", Get<TelemetryOptions>(provider).PrometheusPath);
    }

    [Fact]
    public void Defaults_are_valid_in_every_section()
    {
        using var provider = Provider([]);
        foreach (var section in SectionTypes)
        {
            Resolve(provider, section); // throws OptionsValidationException when a default is invalid
        }
    }

    public static TheoryData<string, string, string, Type> BadSettings => new()
    {
        { "MailGrpc:ApiKeys:0:Tenant", "bad tenant!", "MailGrpc:ApiKeys:0:Tenant must be 1-64 characters of A-Z a-z 0-9 . _ -.", typeof(ApiKeysOptions) },
        { "MailGrpc:OAuthClients:c1:Provider", "Microsoft", "MailGrpc:OAuthClients:c1:ClientId is required.", typeof(OAuthClientsOptions) },
        { "MailGrpc:Redis:Configuration", "127.0.0.1:1,nosuchoption=hunter2", "MailGrpc:Redis:Configuration is not a StackExchange.Redis configuration string", typeof(RedisOptions) },
        { "MailGrpc:Encryption:Keys:k1", "c2hvcnQ=", "MailGrpc:Encryption:Keys:k1 is not a base64 256-bit key (32 bytes). Fix: make one with `openssl rand -base64 32`.", typeof(EncryptionOptions) },
        { "MailGrpc:Network:ResolveTimeout", "00:00:00", "MailGrpc:Network:ResolveTimeout must be positive.", typeof(NetworkOptions) },
        { "MailGrpc:Tls:ExtraTrustedCaFile", "/nonexistent/ca.pem", "MailGrpc:Tls:ExtraTrustedCaFile '/nonexistent/ca.pem' does not exist.", typeof(TlsOptions) },
        { "MailGrpc:Tokens:PendingAuthorizationLifetime", "00:00:00", "MailGrpc:Tokens: RefreshMargin must be zero or more and PendingAuthorizationLifetime positive.", typeof(TokenOptions) },
        { "MailGrpc:Pop3:ChunkSize", "100", "MailGrpc:Pop3:ChunkSize must be between 1024 and 65536 bytes.", typeof(Pop3Options) },
        { "MailGrpc:Diagnostics:StepTimeout", "00:10:00", "MailGrpc:Diagnostics: Timeout must be positive and at most 5 minutes, StepTimeout positive and at most Timeout.", typeof(DiagnosticsOptions) },
        { "MailGrpc:Sync:MinInterval", "00:00:00.500", "MailGrpc:Sync:MinInterval must be from 1 second to 1 day. Fix: e.g. MinInterval=00:00:10.", typeof(SyncOptions) },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void A_bad_setting_fails_its_own_section_with_the_message_start_up_prints(string key, string value, string message, Type section)
    {
        using var provider = Provider(new() { [key] = value });

        var error = Assert.Throws<OptionsValidationException>(() => Resolve(provider, section));
        var failure = Assert.Single(error.Failures, f => f.StartsWith(message, StringComparison.Ordinal));
        Assert.DoesNotContain(error.Failures, f => f.Contains("hunter2", StringComparison.Ordinal));

        // Start-up prints each failure as one line, as it is.
        var (lines, code) = StartupFailure.Explain(error, configuration: null);
        Assert.Equal(StartupFailure.ConfigurationError, code);
        Assert.Equal(error.Failures.Select(f => $"{StartupFailure.Prefix} {f}"), lines);
        Assert.Contains($"{StartupFailure.Prefix} {failure}", lines);

        // Every other section is unaffected.
        foreach (var other in SectionTypes.Where(t => t != section))
        {
            Resolve(provider, other);
        }
    }

    [Fact]
    public async Task Every_validated_section_is_checked_at_start_and_all_failures_are_reported()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["MailGrpc:Pop3:BatchSize"] = "0",
            ["MailGrpc:Network:ResolveTimeout"] = "-00:00:01",
        });
        builder.Services.AddMailGrpcOptions(builder.Configuration);
        using var host = builder.Build();

        // Nothing resolved the options: only ValidateOnStart can have found them.
        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        var (lines, code) = StartupFailure.Explain(error, builder.Configuration);
        Assert.Equal(StartupFailure.ConfigurationError, code);
        Assert.Contains($"{StartupFailure.Prefix} MailGrpc:Pop3:BatchSize must be between 1 and 1000.", lines);
        Assert.Contains($"{StartupFailure.Prefix} MailGrpc:Network:ResolveTimeout must be positive.", lines);
        Assert.Equal(2, lines.Count);
    }

    [Fact]
    public void Every_class_reads_its_section_once_at_start_never_the_whole_tree_or_a_monitor()
    {
        // The reload policy (docs/configuration.md, "When settings take effect"): IOptions<section> only.
        var offenders = new List<string>();
        foreach (var type in typeof(MailGrpcOptions).Assembly.GetTypes())
        {
            foreach (var constructor in type.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance))
            {
                foreach (var parameter in constructor.GetParameters())
                {
                    var t = parameter.ParameterType;
                    if (!t.IsGenericType || t.GetGenericArguments()[0] is not { } options)
                    {
                        continue;
                    }

                    var definition = t.GetGenericTypeDefinition();
                    var ours = options.Namespace == typeof(MailGrpcOptions).Namespace;
                    if (options == typeof(MailGrpcOptions)
                        || (ours && definition != typeof(IOptions<>))
                        || (ours && options.GetField("SectionName") is null))
                    {
                        offenders.Add($"{type.Name}({parameter.Name}: {t.Name}<{options.Name}>)");
                    }
                }
            }
        }

        Assert.Empty(offenders);
    }

    private static readonly Type[] SectionTypes =
    [
        typeof(ApiKeysOptions), typeof(OAuthClientsOptions), typeof(RedisOptions), typeof(EncryptionOptions), typeof(NetworkOptions),
        typeof(TlsOptions), typeof(TokenOptions), typeof(Pop3Options), typeof(DiagnosticsOptions), typeof(ShutdownOptions), typeof(TelemetryOptions),
        typeof(SyncOptions),
    ];

    private static ServiceProvider Provider(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddMailGrpcOptions(configuration);
        return services.BuildServiceProvider();
    }

    private static T Get<T>(IServiceProvider provider)
        where T : class => provider.GetRequiredService<IOptions<T>>().Value;

    private static object? Resolve(IServiceProvider provider, Type section)
    {
        var options = typeof(IOptions<>).MakeGenericType(section);
        try
        {
            return options.GetProperty(nameof(IOptions<object>.Value))!.GetValue(provider.GetRequiredService(options));
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }
}
