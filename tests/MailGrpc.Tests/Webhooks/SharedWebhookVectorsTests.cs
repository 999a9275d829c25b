using System.Text.Json.Nodes;

namespace MailGrpc.Tests.Webhooks;

/// <summary>
/// clients/testdata/webhook-vectors.json is exactly what the server's signer produces for the cases in
/// <see cref="WebhookVectors"/>; every SDK's tests verify the same file, so the five implementations agree.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class SharedWebhookVectorsTests
{
    [Fact]
    public void The_shared_vectors_file_is_what_the_server_signer_produces()
    {
        var expected = WebhookVectors.ToJson(WebhookVectors.Build());
        var path = WebhookVectors.FilePath();
        if (Environment.GetEnvironmentVariable("MAILGRPC_WRITE_WEBHOOK_VECTORS") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, WebhookVectors.Serialize(expected));
        }

        var actual = JsonNode.Parse(File.ReadAllText(path));

        Assert.True(JsonNode.DeepEquals(expected, actual), $"{WebhookVectors.RelativePath} differs from what the signer produces: rerun this test with MAILGRPC_WRITE_WEBHOOK_VECTORS=1 and commit the file.");
    }

    [Fact]
    public void The_first_shared_vector_is_the_specification_libraries_vector()
    {
        var first = JsonNode.Parse(File.ReadAllText(WebhookVectors.FilePath()))!["cases"]![0]!;

        Assert.Equal(WebhookVectors.SpecSecret, (string?)first["secret"]);
        Assert.Equal(WebhookVectors.SpecPayload, (string?)first["payload"]);
        Assert.Equal(WebhookVectors.SpecSignature, (string?)first["headers"]!["webhook-signature"]);
        Assert.Equal("1614265330", (string?)first["headers"]!["webhook-timestamp"]);
        Assert.True((bool?)first["expect"]!["valid"]);
    }
}
