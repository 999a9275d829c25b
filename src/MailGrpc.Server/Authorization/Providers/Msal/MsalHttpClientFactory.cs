using Microsoft.Identity.Client;

namespace MailGrpc.Server.Authorization.Providers.Msal;

/// <summary>
/// MSAL's HTTP goes through the same named client as every other OAuth call (extra trusted CA, <c>ProviderTimeout</c>).
/// It is the seam tests replace with an in-process Entra fake (the registration is <see cref="IMsalHttpClientFactory"/>).
/// </summary>
internal sealed class MsalHttpClientFactory(IHttpClientFactory httpClients) : IMsalHttpClientFactory
{
    public HttpClient GetHttpClient() => httpClients.CreateClient(AuthorizationServiceCollectionExtensions.OAuthHttpClient);
}
