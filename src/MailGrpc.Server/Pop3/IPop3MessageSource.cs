namespace MailGrpc.Server.Pop3;

/// <summary>
/// What the message fetcher needs of a POP3 session: RETR/TOP by index, pipelined where offered. <see cref="Pop3Session"/>
/// is the one implementation that talks POP3; the fast tests use an in-process one.
/// </summary>
internal interface IPop3MessageSource
{
    /// <summary>The server answers TOP (headers without the body).</summary>
    bool SupportsTop { get; }

    /// <summary>Fetches whole messages (or only headers) for <paramref name="indexes"/>; every returned stream is seekable and in memory.</summary>
    Task<IList<Stream>> FetchAsync(IList<int> indexes, bool headersOnly, CancellationToken cancellationToken);
}
