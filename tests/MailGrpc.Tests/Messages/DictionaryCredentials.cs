using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Tests.Messages;

/// <summary>
/// A test-only <see cref="IMailboxCredentials"/> reading credentials from a dictionary (mailbox id → credential), for tests
/// that exercise only the POP3 side. Renewals come from <see cref="Renewals"/>; every call is counted.
/// </summary>
internal sealed class DictionaryCredentials : IMailboxCredentials
{
    public Dictionary<string, Pop3Credential> Current { get; } = [];

    public Dictionary<string, Pop3Credential> Renewals { get; } = [];

    public int Gets;
    public int RenewCalls;
    public int GiveUps;

    public Task<Pop3Credential> GetAsync(MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Gets);
        lock (Current)
        {
            return Current.TryGetValue(mailbox.Id, out var credential)
                ? Task.FromResult(credential)
                : throw new MailGrpcException(ErrorKind.FailedPrecondition, "NOT_AUTHORIZED", "No credential.");
        }
    }

    public Task<Pop3Credential> RenewAfterRefusalAsync(MailboxRecord mailbox, Pop3Credential refused, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref RenewCalls);
        lock (Current)
        {
            if (Renewals.TryGetValue(mailbox.Id, out var renewed))
            {
                Current[mailbox.Id] = renewed;
                return Task.FromResult(renewed);
            }
        }

        throw new MailGrpcException(ErrorKind.FailedPrecondition, "REAUTHORIZATION_REQUIRED", "Refused and no renewal.");
    }

    public Task<Exception> GiveUpAfterRefusalAsync(MailboxRecord mailbox, string reason, string message, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref GiveUps);
        return Task.FromResult<Exception>(new MailGrpcException(ErrorKind.FailedPrecondition, "REAUTHORIZATION_REQUIRED", message, new Dictionary<string, string> { ["cause"] = reason }));
    }
}
