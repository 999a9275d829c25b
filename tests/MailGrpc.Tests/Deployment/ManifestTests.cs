using YamlDotNet.RepresentationModel;
using MailGrpc.Tests.Infrastructure;
using static MailGrpc.Tests.Deployment.DeploymentManifests;

namespace MailGrpc.Tests.Deployment;

/// <summary>The files in deploy/ parse, and every configuration key they set is one the server binds.</summary>
[Trait("Layer", "Fast")]
public sealed class ManifestTests
{
    [Fact]
    public void Every_key_the_deployment_files_set_binds_to_the_server_options()
    {
        var settings = AllSettings();

        // The files really were read: Dockerfile, compose and the Kubernetes ConfigMap/Secrets/Deployment all contribute.
        Assert.True(settings.Count >= 40, $"only {settings.Count} settings found");
        Assert.Contains(settings, s => s.Source == "Dockerfile" && s.Name == "Kestrel__Endpoints__Metrics__Url");
        Assert.Contains(settings, s => s.Source.StartsWith("compose.yaml", StringComparison.Ordinal) && s.Name == "MailGrpc__Redis__Configuration");
        Assert.Contains(settings, s => s.Source.Contains("ConfigMap/mailgrpc-config", StringComparison.Ordinal) && s.Name == "MailGrpc__Shutdown__DrainTimeout");
        Assert.Contains(settings, s => s.Source.Contains("Secret/mailgrpc-encryption", StringComparison.Ordinal) && s.Name == "MailGrpc__Encryption__Keys__k1");
        Assert.Empty(Problems(settings));
    }

    [Theory]
    [InlineData("configmap.yaml", "  MailGrpc__Shutdown__DrainTimeout: \"00:00:25\"", "  MailGrpc__Shutdown__DrainTimout: \"00:00:25\"", "DrainTimout")]
    [InlineData("configmap.yaml", "  MailGrpc__Pop3__ConnectTimeout: \"00:00:15\"", "  MailGrpc__Pop3__ConnectTimeout: \"fifteen seconds\"", "ConnectTimeout")]
    [InlineData("configmap.yaml", "  Kestrel__Endpoints__Grpc__Protocols: Http2", "  Kestrel__Endpoints__Grpc__Protocol: Http2", "Protocol")]
    [InlineData("configmap.yaml", "  Logging__LogLevel__Default: Information", "  Logging__Level__Default: Information", "Logging:Level:Default")]
    [InlineData("secrets.example.yaml", "  MailGrpc__Redis__Configuration:", "  MailGrpc__Redis:", "MailGrpc:Redis")]
    [InlineData("secrets.example.yaml", "  MailGrpc__ApiKeys__0__KeyHash:", "  MailGrpc__ApiKeys__first__KeyHash:", "first")]
    [InlineData("deployment.yaml", "- name: DOTNET_gcServer", "- name: MAILGRPC_REDIS", "MAILGRPC_REDIS")]
    public void A_kubernetes_manifest_naming_an_unknown_key_fails_the_check(string file, string original, string broken, string expectedInMessage)
    {
        var text = File.ReadAllText(Path.Combine(KubernetesDirectory, file));
        Assert.Contains(original, text, StringComparison.Ordinal);
        Assert.Empty(Problems(KubernetesSettings(file, ParseDocuments(text))));

        var problems = Problems(KubernetesSettings(file, ParseDocuments(text.Replace(original, broken, StringComparison.Ordinal))));

        var problem = Assert.Single(problems);
        Assert.Contains(expectedInMessage, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_compose_file_or_dockerfile_naming_an_unknown_key_fails_the_check()
    {
        var compose = File.ReadAllText(Path.Combine(DeployDirectory, "compose.yaml"));
        var brokenCompose = compose.Replace("MailGrpc__Encryption__ActiveKeyId:", "MailGrpc__Encryption__ActiveKey:", StringComparison.Ordinal);
        Assert.NotEqual(compose, brokenCompose);
        Assert.Contains("ActiveKey'", Assert.Single(Problems(ComposeSettings("compose.yaml", brokenCompose))), StringComparison.Ordinal);

        var dockerfile = File.ReadAllText(Path.Combine(DeployDirectory, "Dockerfile"));
        var brokenDockerfile = dockerfile.Replace("Kestrel__Endpoints__Metrics__Url=", "Kestrel__Endpoints__Metrics__Uri=", StringComparison.Ordinal);
        Assert.NotEqual(dockerfile, brokenDockerfile);
        Assert.Contains("Uri", Assert.Single(Problems(DockerfileSettings("Dockerfile", brokenDockerfile))), StringComparison.Ordinal);
    }

    [Fact]
    public void The_schema_accepts_dictionary_keys_and_list_indexes_and_refuses_everything_else()
    {
        Assert.Null(ConfigurationSchema.Check("MailGrpc:OAuthClients:any-name:Scopes:3"));
        Assert.Null(ConfigurationSchema.Check("mailgrpc:encryption:keys:2026-01"));
        Assert.Null(ConfigurationSchema.Check("Kestrel:Limits:MaxConcurrentConnections"));
        Assert.Null(ConfigurationSchema.Check("Kestrel:Endpoints:Grpc:Certificate:Path"));
        Assert.NotNull(ConfigurationSchema.Check("MailGrpc:OAuthClients:any-name:Scopes"));
        Assert.NotNull(ConfigurationSchema.Check("MailGrpc:OAuthClients:any-name:Scopes:x"));
        Assert.NotNull(ConfigurationSchema.Check("MailGrpc:Redis:Configuration:Extra"));
        Assert.NotNull(ConfigurationSchema.Check("Kestrel:Limits:MaxConnections"));
        Assert.NotNull(ConfigurationSchema.Check("Redis:Configuration"));
    }

    [Fact]
    public void The_deployment_runs_two_replicas_with_native_grpc_probes_and_resource_limits()
    {
        var docs = KubernetesDocuments().Select(d => d.Document).ToList();
        var deployment = Single(docs, "Deployment");
        Assert.True(int.Parse(Scalar(Child(deployment, "spec"), "replicas")!, System.Globalization.CultureInfo.InvariantCulture) >= 2);

        var container = Assert.Single(Containers(deployment));
        var grpcPort = ((YamlSequenceNode)ChildNode(container, "ports")!).Children.OfType<YamlMappingNode>().Single(p => Scalar(p, "name") == "grpc");
        foreach (var probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
        {
            var grpc = Child(Child(container, probe), "grpc");
            Assert.True(grpc is not null, $"{probe} must be a native grpc probe");
            Assert.Equal(Scalar(grpcPort, "containerPort"), Scalar(grpc, "port"));
        }

        var resources = Child(container, "resources");
        foreach (var section in new[] { "requests", "limits" })
        {
            Assert.NotNull(Scalar(Child(resources, section), "cpu"));
            Assert.NotNull(Scalar(Child(resources, section), "memory"));
        }

        // Every envFrom reference names a ConfigMap or Secret in the manifests, so no key silently goes missing.
        foreach (var source in ((YamlSequenceNode)ChildNode(container, "envFrom")!).Children.OfType<YamlMappingNode>())
        {
            var (kind, reference) = Child(source, "secretRef") is { } secret ? ("Secret", secret) : ("ConfigMap", Child(source, "configMapRef")!);
            var name = Scalar(reference, "name");
            Assert.Contains(docs, d => Scalar(d, "kind") == kind && Scalar(Child(d, "metadata"), "name") == name);
        }

        Assert.True(Scalar(Child(Child(deployment, "spec"), "template") is { } t ? Child(Child(t, "spec"), "securityContext") : null, "runAsNonRoot") == "true");
    }

    [Fact]
    public void Service_pdb_hpa_secrets_and_network_policy_are_there_and_consistent()
    {
        var docs = KubernetesDocuments().Select(d => d.Document).ToList();

        var service = Single(docs, "Service");
        var grpc = ((YamlSequenceNode)ChildNode(Child(service, "spec"), "ports")!).Children.OfType<YamlMappingNode>().Single(p => Scalar(p, "name") == "grpc");
        Assert.Equal("kubernetes.io/h2c", Scalar(grpc, "appProtocol"));

        var pdb = Single(docs, "PodDisruptionBudget");
        Assert.NotNull(Scalar(Child(pdb, "spec"), "minAvailable") ?? Scalar(Child(pdb, "spec"), "maxUnavailable"));

        var hpa = Single(docs, "HorizontalPodAutoscaler");
        Assert.Equal("mailgrpc", Scalar(Child(Child(hpa, "spec"), "scaleTargetRef"), "name"));
        Assert.True(int.Parse(Scalar(Child(hpa, "spec"), "minReplicas")!, System.Globalization.CultureInfo.InvariantCulture) >= 2);

        Assert.NotNull(Single(docs, "NetworkPolicy"));
        var secretNames = docs.Where(d => Scalar(d, "kind") == "Secret").Select(d => Scalar(Child(d, "metadata"), "name")).ToList();
        Assert.Contains("mailgrpc-encryption", secretNames);
        Assert.Contains("mailgrpc-api-keys", secretNames);
        Assert.Contains("mailgrpc-oauth-clients", secretNames);

        // Pod selectors of the Service, PDB and NetworkPolicy all match the Deployment's pod labels.
        var podLabels = Child(Child(Child(Child(Single(docs, "Deployment"), "spec"), "template"), "metadata"), "labels")!;
        foreach (var selector in new[] { Child(Child(service, "spec"), "selector"), Child(Child(Child(pdb, "spec"), "selector"), "matchLabels"), Child(Child(Child(Single(docs, "NetworkPolicy"), "spec"), "podSelector"), "matchLabels") })
        {
            Assert.NotNull(selector);
            foreach (var (key, value) in selector!.Children)
            {
                Assert.Equal(((YamlScalarNode)value).Value, Scalar(podLabels, ((YamlScalarNode)key).Value!));
            }
        }
    }

    [Fact]
    public void The_dockerfile_is_multi_stage_non_root_with_a_built_in_health_probe_and_no_binary_downloads()
    {
        var dockerfile = File.ReadAllText(Path.Combine(DeployDirectory, "Dockerfile"));
        var lines = dockerfile.Split('\n').Select(l => l.Trim()).ToList();
        Assert.True(lines.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)) >= 2);
        var user = lines.Last(l => l.StartsWith("USER ", StringComparison.Ordinal))[5..].Trim();
        Assert.NotEqual("root", user.Split(':')[0]);
        Assert.NotEqual("0", user.Split(':')[0]);
        Assert.Contains(lines, l => l.StartsWith("HEALTHCHECK", StringComparison.Ordinal));
        Assert.Contains("--healthcheck", dockerfile, StringComparison.Ordinal);
        Assert.DoesNotContain("curl ", dockerfile, StringComparison.Ordinal);
        Assert.DoesNotContain("wget ", dockerfile, StringComparison.Ordinal);
        Assert.DoesNotContain("ADD http", dockerfile, StringComparison.Ordinal);

        // The image ships the native AOT executable (the build test.sh's process tests run): no .NET runtime in it.
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/runtime-deps:", lines.Last(l => l.StartsWith("FROM ", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Contains("--runtime linux-x64", dockerfile, StringComparison.Ordinal);
        Assert.Contains(@"ENTRYPOINT [""/app/MailGrpc.Server""]", lines);
        Assert.DoesNotContain(@"""dotnet""", dockerfile, StringComparison.Ordinal);
        var project = File.ReadAllText(Path.Combine(RepoPaths.Root, "src", "MailGrpc.Server", "MailGrpc.Server.csproj"));
        Assert.Contains("<PublishAot>true</PublishAot>", project, StringComparison.Ordinal);

        var compose = ParseDocuments(File.ReadAllText(Path.Combine(DeployDirectory, "compose.yaml"))).Single();
        var redis = Child(Child(compose, "services"), "redis")!;
        var command = string.Join(' ', ((YamlSequenceNode)ChildNode(redis, "command")!).Children.Select(c => ((YamlScalarNode)c).Value));
        Assert.Contains("--appendonly yes", command, StringComparison.Ordinal);
        Assert.NotNull(Child(redis, "healthcheck"));
        var probe = Child(Child(Child(compose, "services"), "mailgrpc"), "healthcheck")!;
        var test = ((YamlSequenceNode)ChildNode(probe, "test")!).Children.Select(c => ((YamlScalarNode)c).Value).ToList();
        Assert.Equal(["CMD", "/app/MailGrpc.Server", "--healthcheck"], test);
    }

    private static YamlMappingNode Single(IEnumerable<YamlMappingNode> docs, string kind) => Assert.Single(docs, d => Scalar(d, "kind") == kind);
}
