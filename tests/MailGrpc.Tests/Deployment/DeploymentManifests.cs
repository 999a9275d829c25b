using System.Text.RegularExpressions;
using MailGrpc.Server.Configuration;
using MailGrpc.Tests.Infrastructure;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace MailGrpc.Tests.Deployment;

/// <summary>One configuration setting a deployment file gives the server, in environment-variable form.</summary>
internal sealed record ManifestSetting(string Source, string Name, string? Value);

/// <summary>Reads the files in <c>deploy/</c> and finds every configuration setting they give the server.</summary>
internal static partial class DeploymentManifests
{
    public static string DeployDirectory => Path.Combine(RepoPaths.Root, "deploy");

    public static string KubernetesDirectory => Path.Combine(DeployDirectory, "kubernetes");

    public static IReadOnlyList<YamlMappingNode> ParseDocuments(string yaml)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(yaml);
        stream.Load(reader);
        return [.. stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>()];
    }

    public static IReadOnlyList<(string File, YamlMappingNode Document)> KubernetesDocuments() =>
        [.. Directory.GetFiles(KubernetesDirectory, "*.yaml").Order(StringComparer.Ordinal)
            .SelectMany(file => ParseDocuments(File.ReadAllText(file)).Select(doc => (Path.GetFileName(file), doc)))];

    /// <summary>Every setting of the whole <c>deploy/</c> folder.</summary>
    public static IReadOnlyList<ManifestSetting> AllSettings() =>
    [
        .. DockerfileSettings("Dockerfile", File.ReadAllText(Path.Combine(DeployDirectory, "Dockerfile"))),
        .. ComposeSettings("compose.yaml", File.ReadAllText(Path.Combine(DeployDirectory, "compose.yaml"))),
        .. KubernetesDocuments().GroupBy(d => d.File).SelectMany(g => KubernetesSettings(g.Key, [.. g.Select(d => d.Document)])),
    ];

    /// <summary>ConfigMap data, Secret data/stringData and container env of the Kubernetes documents.</summary>
    public static IEnumerable<ManifestSetting> KubernetesSettings(string source, IReadOnlyList<YamlMappingNode> documents)
    {
        foreach (var doc in documents)
        {
            var kind = Scalar(doc, "kind");
            var name = Scalar(Child(doc, "metadata"), "name");
            if (kind is "ConfigMap" or "Secret")
            {
                foreach (var section in new[] { "data", "stringData" })
                {
                    if (Child(doc, section) is { } data)
                    {
                        foreach (var (key, value) in data.Children)
                        {
                            yield return new ManifestSetting($"{source} {kind}/{name}", ((YamlScalarNode)key).Value!, (value as YamlScalarNode)?.Value);
                        }
                    }
                }
            }

            foreach (var container in Containers(doc))
            {
                if (ChildNode(container, "env") is YamlSequenceNode env)
                {
                    foreach (var entry in env.Children.OfType<YamlMappingNode>())
                    {
                        yield return new ManifestSetting($"{source} {kind}/{name} env", Scalar(entry, "name")!, Scalar(entry, "value"));
                    }
                }
            }
        }
    }

    public static IEnumerable<YamlMappingNode> Containers(YamlMappingNode doc)
    {
        var podSpec = Child(Child(Child(doc, "spec"), "template"), "spec");
        foreach (var list in new[] { "initContainers", "containers" })
        {
            if (ChildNode(podSpec, list) is YamlSequenceNode containers)
            {
                foreach (var container in containers.Children.OfType<YamlMappingNode>())
                {
                    yield return container;
                }
            }
        }
    }

    /// <summary>The environment of every compose service that runs the MailGrpc image (built here or named mailgrpc).</summary>
    public static IEnumerable<ManifestSetting> ComposeSettings(string source, string yaml)
    {
        var root = ParseDocuments(yaml).Single();
        if (Child(root, "services") is not { } services)
        {
            yield break;
        }

        foreach (var (serviceName, serviceNode) in services.Children)
        {
            var service = (YamlMappingNode)serviceNode;
            var image = Scalar(service, "image") ?? string.Empty;
            if (Child(service, "build") is null && !image.Contains("mailgrpc", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var label = $"{source} service {serviceName}";
            switch (ChildNode(service, "environment"))
            {
                case YamlMappingNode map:
                    foreach (var (key, value) in map.Children)
                    {
                        yield return new ManifestSetting(label, ((YamlScalarNode)key).Value!, (value as YamlScalarNode)?.Value);
                    }

                    break;
                case YamlSequenceNode list:
                    foreach (var item in list.Children.OfType<YamlScalarNode>())
                    {
                        var text = item.Value ?? string.Empty;
                        var eq = text.IndexOf('=', StringComparison.Ordinal);
                        yield return eq < 0 ? new ManifestSetting(label, text, null) : new ManifestSetting(label, text[..eq], text[(eq + 1)..]);
                    }

                    break;
            }
        }
    }

    /// <summary>The <c>ENV</c> instructions of a Dockerfile (both <c>ENV k=v k=v</c> with continuations and <c>ENV k v</c>).</summary>
    public static IEnumerable<ManifestSetting> DockerfileSettings(string source, string dockerfile)
    {
        var joined = dockerfile.Replace("\\\r\n", " ", StringComparison.Ordinal).Replace("\\\n", " ", StringComparison.Ordinal);
        foreach (var raw in joined.Split('\n'))
        {
            var line = raw.Trim();
            if (!line.StartsWith("ENV ", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var body = line[4..].Trim();
            if (!body.Contains('=', StringComparison.Ordinal))
            {
                var parts = body.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
                yield return new ManifestSetting(source, parts[0], parts.Length > 1 ? parts[1] : null);
                continue;
            }

            foreach (var pair in body.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                yield return new ManifestSetting(source, eq < 0 ? pair : pair[..eq], eq < 0 ? null : pair[(eq + 1)..].Trim('"'));
            }
        }
    }

    /// <summary>
    /// Every problem with <paramref name="settings"/>: a name that is not a valid environment variable, a key the server
    /// does not bind, or a value the binder cannot convert. Empty when all is well.
    /// </summary>
    public static IReadOnlyList<string> Problems(IEnumerable<ManifestSetting> settings)
    {
        var problems = new List<string>();
        foreach (var group in settings.GroupBy(s => s.Source))
        {
            var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var setting in group)
            {
                if (!EnvironmentName().IsMatch(setting.Name))
                {
                    problems.Add($"{setting.Source}: '{setting.Name}' is not a portable environment variable name");
                    continue;
                }

                if (ConfigurationSchema.CheckEnvironmentVariable(setting.Name) is { } problem)
                {
                    problems.Add($"{setting.Source}: {problem}");
                    continue;
                }

                // Values that are compose interpolations or placeholders are checked only for their key.
                if (setting.Value is { } value && !value.Contains("${", StringComparison.Ordinal) && !value.Contains("REPLACE", StringComparison.Ordinal))
                {
                    values[setting.Name.Replace("__", ":", StringComparison.Ordinal)] = value;
                }
            }

            problems.AddRange(ValueProblems(group.Key, values));
        }

        return problems;
    }

    private static IEnumerable<string> ValueProblems(string source, Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        string? failure = null;
        try
        {
            configuration.GetSection(MailGrpcOptions.SectionName).Get<MailGrpcOptions>(o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException e)
        {
            failure = $"{source}: {e.Message}";
        }

        if (failure is not null)
        {
            yield return failure;
        }

        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
        {
            var protocols = endpoint["Protocols"];
            if (protocols is not null && !Enum.TryParse<HttpProtocols>(protocols, ignoreCase: true, out _))
            {
                yield return $"{source}: Kestrel:Endpoints:{endpoint.Key}:Protocols '{protocols}' is not an HttpProtocols value";
            }

            var url = endpoint["Url"];
            if (url is not null && !UrlPattern().IsMatch(url))
            {
                yield return $"{source}: Kestrel:Endpoints:{endpoint.Key}:Url '{url}' is not an http(s)://host:port URL";
            }
        }
    }

    public static YamlMappingNode? Child(YamlMappingNode? node, string key) => ChildNode(node, key) as YamlMappingNode;

    public static YamlNode? ChildNode(YamlMappingNode? node, string key) =>
        node is not null && node.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    public static string? Scalar(YamlMappingNode? node, string key) => (ChildNode(node, key) as YamlScalarNode)?.Value;

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvironmentName();

    [GeneratedRegex(@"^https?://[^/:]+:\d+/?$")]
    private static partial Regex UrlPattern();
}
