using YamlDotNet.RepresentationModel;
using static MailGrpc.Tests.Deployment.DeploymentManifests;

namespace MailGrpc.Tests.Deployment;

/// <summary>The Kubernetes manifests avoid the traps an operator falls into: overwritten Secrets, mass eviction, a blocked Redis port.</summary>
[Trait("Layer", "Fast")]
public sealed class KubernetesSafetyTests
{
    [Fact]
    public void The_kustomization_does_not_apply_the_example_secrets()
    {
        var root = ParseDocuments(File.ReadAllText(Path.Combine(KubernetesDirectory, "kustomization.yaml"))).Single();
        var resources = ((YamlSequenceNode)ChildNode(root, "resources")!).Children.Select(r => r.ToString()).ToList();
        Assert.Contains("deployment.yaml", resources);
        Assert.DoesNotContain(resources, r => r.Contains("secret", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void The_disruption_budget_bounds_evictions_by_max_unavailable()
    {
        var pdb = OfKind("PodDisruptionBudget");
        Assert.Equal("1", Scalar(Child(pdb, "spec"), "maxUnavailable"));
        Assert.Null(Scalar(Child(pdb, "spec"), "minAvailable"));
    }

    [Fact]
    public void The_network_policy_lets_every_documented_redis_topology_through()
    {
        var policy = OfKind("NetworkPolicy");
        var ports = ((YamlSequenceNode)ChildNode(Child(policy, "spec"), "egress")!).Children.OfType<YamlMappingNode>()
            .SelectMany(rule => ChildNode(rule, "ports") is YamlSequenceNode p ? p.Children.OfType<YamlMappingNode>() : [])
            .Select(p => Scalar(p, "port")).ToHashSet();

        // docs/deployment.md#redis: single and Cluster nodes, managed TLS, Sentinel.
        var doc = File.ReadAllText(Path.Combine(RepoPaths(), "docs", "deployment.md"));
        foreach (var port in new[] { "6379", "6380", "26379" })
        {
            Assert.Contains(":" + port, doc, StringComparison.Ordinal);
            Assert.Contains(port, ports);
        }
    }

    private static YamlMappingNode OfKind(string kind) => Assert.Single(KubernetesDocuments().Select(d => d.Document), d => Scalar(d, "kind") == kind);

    private static string RepoPaths() => Infrastructure.RepoPaths.Root;
}
