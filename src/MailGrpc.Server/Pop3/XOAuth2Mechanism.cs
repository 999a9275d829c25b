using System.Net;
using System.Text;
using MailKit.Security;

namespace MailGrpc.Server.Pop3;

/// <summary>
/// SASL XOAUTH2 that answers a server's error challenge as SASL requires: Gmail replies to a refused token with
/// <c>+ &lt;base64 JSON status&gt;</c> and sends its final <c>-ERR</c> reason only after the client's empty response.
/// MailKit's own mechanism counts itself authenticated after its first response and then misreads that continuation.
/// MailKit always sends <c>AUTH XOAUTH2</c> and the response on separate lines, as Exchange Online requires.
/// </summary>
internal sealed class XOAuth2Mechanism(string username, string accessToken) : SaslMechanism(new NetworkCredential(username, accessToken))
{
    private int _step;

    public override string MechanismName => "XOAUTH2";

    public override bool SupportsInitialResponse => true;

    protected override byte[] Challenge(byte[]? token, int startIndex, int length, CancellationToken cancellationToken)
    {
        if (_step++ == 0)
        {
            return Encoding.UTF8.GetBytes($"user={Credentials.UserName}\u0001auth=Bearer {Credentials.Password}\u0001\u0001");
        }

        // The error challenge: answer with an empty response, after which the server sends its final reply.
        IsAuthenticated = true;
        return [];
    }

    public override void Reset()
    {
        _step = 0;
        base.Reset();
    }
}
