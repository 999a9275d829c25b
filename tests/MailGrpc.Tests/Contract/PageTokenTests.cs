using System.Buffers.Text;
using System.Text;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Tests.Contract;

/// <summary>
/// Page tokens (docs/errors.md INVALID_PAGE_TOKEN): a token continues only the listing and tenant it was made for; any
/// other token — another tenant's, another listing's, edited, truncated, oversized, of another version — is
/// INVALID_ARGUMENT on field page_token, never a silent restart from the first page.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class PageTokenTests
{
    [Theory]
    [InlineData("m-0001")]
    [InlineData("position with spaces, unicode é and \"quotes\"")]
    public void A_token_round_trips_its_position_for_its_own_tenant_and_listing(string position)
    {
        var token = PageToken.Encode("acme", "mailboxes", position);
        Assert.Equal(position, PageToken.Decode(token, "acme", "mailboxes"));
        // URL-safe: no '+', '/' or '=' to escape in a query string or a JSON field.
        Assert.DoesNotContain('+', token);
        Assert.DoesNotContain('/', token);
        Assert.DoesNotContain('=', token);
    }

    [Fact]
    public void An_empty_token_is_the_first_page()
    {
        Assert.Null(PageToken.Decode(string.Empty, "acme", "mailboxes"));
    }

    [Fact]
    public void Another_tenants_token_is_refused()
    {
        var token = PageToken.Encode("other-tenant", "mailboxes", "m-0001");
        AssertRefused(token, "acme", "mailboxes");
    }

    [Fact]
    public void A_token_of_another_listing_is_refused()
    {
        var token = PageToken.Encode("acme", "messages", "m-0001");
        AssertRefused(token, "acme", "mailboxes");
    }

    public static TheoryData<string> Garbage => new()
    {
        "not base64url!",
        "AAAA",
        Base64Url.EncodeToString("{}"u8),
        Base64Url.EncodeToString("[1,2,3]"u8),
        Base64Url.EncodeToString("{\"V\":2,\"T\":\"acme\",\"K\":\"mailboxes\",\"P\":\"m-1\"}"u8),
        Base64Url.EncodeToString("{\"V\":1,\"T\":\"acme\",\"K\":\"mailboxes\",\"P\":\"\"}"u8),
        Base64Url.EncodeToString([0xC3, 0x28, 0xA0, 0xA1]),
        new string('A', 4096),
    };

    [Theory]
    [MemberData(nameof(Garbage))]
    public void A_token_the_server_did_not_make_is_refused(string token)
    {
        AssertRefused(token, "acme", "mailboxes");
    }

    [Fact]
    public void An_edited_or_truncated_token_is_refused()
    {
        var token = PageToken.Encode("acme", "mailboxes", "m-0001");
        AssertRefused(token[..^3], "acme", "mailboxes");
        var json = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token)).Replace("\"acme\"", "\"acmf\"", StringComparison.Ordinal);
        AssertRefused(Base64Url.EncodeToString(Encoding.UTF8.GetBytes(json)), "acme", "mailboxes");
    }

    private static void AssertRefused(string token, string tenant, string kind)
    {
        var error = Assert.Throws<MailGrpcException>(() => PageToken.Decode(token, tenant, kind));
        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Equal("INVALID_PAGE_TOKEN", error.Reason);
        Assert.Equal("page_token", error.Metadata["field"]);
        // Nothing of the token is echoed.
        Assert.DoesNotContain(token.Length > 8 ? token[..8] : token, error.Message, StringComparison.Ordinal);
    }
}
