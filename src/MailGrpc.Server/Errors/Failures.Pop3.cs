namespace MailGrpc.Server.Errors;

/// <summary>The failures of POP3 sessions: the lease, the byte budget, what the server does not offer.</summary>
internal static partial class Failures
{
    // Transport and protocol failures (Errors/ExceptionMapper maps MailKit's and the session layer's exceptions here). The
    // server's own text is never echoed: it can carry anything.
    public static MailGrpcException Pop3ConnectFailed(string message, Exception inner) =>
        new(ErrorKind.Unavailable, ErrorReasons.Pop3ConnectFailed, message, inner: inner);

    public static MailGrpcException Pop3Timeout(string message, Exception inner) =>
        new(ErrorKind.Unavailable, ErrorReasons.Pop3Timeout, message, inner: inner);

    public static MailGrpcException Pop3ConnectionLost(string what, Exception inner) =>
        new(ErrorKind.Unavailable, ErrorReasons.Pop3ConnectionLost, what + " Nothing was deleted; ask again for unacknowledged messages.", inner: inner);

    public static MailGrpcException Pop3TlsFailed() =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.Pop3TlsFailed, "The TLS handshake with the POP3 server failed (untrusted or mismatched certificate, or no common protocol).");

    public static MailGrpcException Pop3MaildropInUse(Exception inner) =>
        new(ErrorKind.Unavailable, ErrorReasons.MailboxBusy, "The POP3 server reports the maildrop in use by another client; retry later.", inner: inner);

    public static MailGrpcException Pop3CommandFailed(Exception inner) =>
        new(ErrorKind.Unavailable, ErrorReasons.Pop3CommandFailed, "The POP3 server refused a command.", inner: inner);

    public static MailGrpcException MailboxBusy(string mailboxId) =>
        new(
            ErrorKind.Unavailable,
            ErrorReasons.MailboxBusy,
            $"Another call holds mailbox '{mailboxId}''s POP3 session; retry later.",
            new Dictionary<string, string> { ["mailbox_id"] = mailboxId });

    public static MailGrpcException Pop3LeaseLost() =>
        new(ErrorKind.Unavailable, ErrorReasons.Pop3LeaseLost, "The mailbox's session lease was lost (the state store did not answer); retry.");

    public static MailGrpcException MemoryBudgetExhausted(TimeSpan wait) =>
        new(
            ErrorKind.ResourceExhausted,
            ErrorReasons.MemoryBudgetExhausted,
            $"The server's message memory (MailGrpc:Pop3:MemoryBudgetBytes) stayed in use by other streams for {wait.TotalSeconds:0.#} s; retry later (with only_unacknowledged to resume).");

    public static MailGrpcException Pop3StartTlsUnsupported(string where) =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.Pop3StartTlsUnsupported, $"POP3 server {where} does not offer STLS; use implicit TLS or another port.");

    public static MailGrpcException Pop3UidlUnsupported() =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.Pop3UidlUnsupported, "The POP3 server does not offer UIDL; MailGrpc identifies messages by uid and cannot read this mailbox.");

    public static MailGrpcException Pop3AuthMechanismUnsupported(string mechanism, IEnumerable<string> offered) =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.Pop3AuthMechanismUnsupported, $"The POP3 server does not offer {mechanism}; it offers {string.Join(", ", offered)}.");

    /// <param name="configured">The security the mailbox has (proto name); <paramref name="use"/> the one the port speaks.</param>
    public static MailGrpcException Pop3SecurityMismatch(string where, string configured, string use, string what, string fix) =>
        new(
            ErrorKind.FailedPrecondition,
            ErrorReasons.Pop3SecurityMismatch,
            $"POP3 server {where}: security is {configured} but {what}. Fix: {fix}.",
            new Dictionary<string, string> { ["field"] = "mailbox.server.security", ["configured"] = configured, ["use"] = use });

    /// <summary>A login refusal no new credential fixes: retry later (temporary) or fix the account (permanent).</summary>
    public static MailGrpcException Pop3LoginRefused(string reason, string explain, bool temporary, string? serverLine, int retryAfterSeconds)
    {
        var metadata = new Dictionary<string, string>();
        if (serverLine is not null)
        {
            metadata["server_reply"] = serverLine;
        }

        if (temporary)
        {
            metadata["retry_after_seconds"] = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return new(temporary ? ErrorKind.Unavailable : ErrorKind.FailedPrecondition, reason, explain, metadata);
    }
}
