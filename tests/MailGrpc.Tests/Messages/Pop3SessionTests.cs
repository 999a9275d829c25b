using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Pop3;
using MailGrpc.V1;
using Microsoft.Extensions.DependencyInjection;

namespace MailGrpc.Tests.Messages;

/// <summary>
/// The POP3 session layer against the rig's Dovecot: every transport security, every login kind, the one-retry rule on a
/// refused token, certificate checks, the SSRF guard at connect time, and the lease.
/// </summary>
[Collection("pop3")]
public sealed class Pop3SessionTests(Pop3Rig rig) : IAsyncDisposable
{
    private readonly MessagesHost _host = new(rig);

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private Pop3SessionFactory Factory => _host.Services.GetRequiredService<Pop3SessionFactory>();

    private MailboxRecord Record(string user, Security security, int port, SaslMechanism mechanism = SaslMechanism.Xoauth2) => new()
    {
        Tenant = _host.Tenant.Name,
        Id = "s-" + Guid.NewGuid().ToString("N")[..12],
        Username = user,
        Host = "127.0.0.1",
        Port = port,
        Security = MailGrpc.Server.GrpcApi.MailboxProtoMapper.ToDomain(security)!.Value,
        Mechanism = MailGrpc.Server.GrpcApi.MailboxProtoMapper.ToDomain(mechanism)!.Value,
        State = MailGrpc.Server.Mailboxes.MailboxState.Active,
    };

    private async Task<string> SeededPasswordUserAsync(int messages)
    {
        var user = Pop3Rig.NewUser("sess");
        rig.AddPasswordUser(user);
        await rig.SeedAsync(user, Enumerable.Range(0, messages).Select(i => Pop3Rig.MakeMessage(i, 2000)));
        return user;
    }

    [Theory]
    [InlineData(Security.ImplicitTls)]
    [InlineData(Security.Starttls)]
    [InlineData(Security.None)]
    public async Task App_password_logs_in_over_every_transport_and_lists_uids(Security security)
    {
        var user = Pop3Rig.NewUser("sess");
        var password = rig.AddPasswordUser(user);
        await rig.SeedAsync(user, Enumerable.Range(0, 3).Select(i => Pop3Rig.MakeMessage(i, 2000)));
        var record = Record(user, security, security == Security.ImplicitTls ? rig.Pop3sPort : rig.Pop3Port);
        _host.Credentials.Current[record.Id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);

        await using var session = await Factory.OpenAsync(record, CancellationToken.None);
        var entries = await session.ListAsync();
        Assert.Equal(3, entries.Count);
        Assert.All(entries, e => Assert.Matches("^[!-~]{1,70}$", e.Uid));
        Assert.Equal(3, entries.Select(e => e.Uid).Distinct().Count());
        Assert.All(entries, e => Assert.InRange(e.Size, 1900, 2100));
        Assert.True(session.SupportsPipelining);
        Assert.True(session.SupportsTop);
    }

    [Theory]
    [InlineData(SaslMechanism.Xoauth2)]
    [InlineData(SaslMechanism.Oauthbearer)]
    public async Task Access_token_logs_in_with_the_mailbox_mechanism(SaslMechanism mechanism)
    {
        var user = Pop3Rig.NewUser("tok");
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(1, 1000)]);
        var record = Record(user, Security.ImplicitTls, rig.Pop3sPort, mechanism);
        _host.Credentials.Current[record.Id] = new Pop3Credential(Pop3CredentialKind.AccessToken, user, await rig.IssueTokenAsync(user), null);

        await using var session = await Factory.OpenAsync(record, CancellationToken.None);
        Assert.Single(await session.ListAsync());
        Assert.Equal(0, _host.Credentials.RenewCalls);
    }

    [Fact]
    public async Task A_refused_token_is_renewed_once_and_the_retry_succeeds()
    {
        var user = Pop3Rig.NewUser("tok");
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(1, 1000)]);
        var record = Record(user, Security.ImplicitTls, rig.Pop3sPort);
        var expired = await rig.IssueTokenAsync(user, expiresIn: -60);
        _host.Credentials.Current[record.Id] = new Pop3Credential(Pop3CredentialKind.AccessToken, user, expired, null);
        _host.Credentials.Renewals[record.Id] = new Pop3Credential(Pop3CredentialKind.AccessToken, user, await rig.IssueTokenAsync(user), null);

        await using var session = await Factory.OpenAsync(record, CancellationToken.None);
        Assert.Single(await session.ListAsync());
        Assert.Equal(1, _host.Credentials.RenewCalls);
        Assert.Equal(0, _host.Credentials.GiveUps);
    }

    [Fact]
    public async Task A_token_refused_twice_ends_in_reauthorization_required_after_exactly_one_retry()
    {
        var user = Pop3Rig.NewUser("tok");
        var record = Record(user, Security.ImplicitTls, rig.Pop3sPort);
        var first = await rig.IssueTokenAsync(user);
        var second = await rig.IssueTokenAsync(user);
        await rig.RevokeUserAsync(user);
        _host.Credentials.Current[record.Id] = new Pop3Credential(Pop3CredentialKind.AccessToken, user, first, null);
        _host.Credentials.Renewals[record.Id] = new Pop3Credential(Pop3CredentialKind.AccessToken, user, second, null);

        var ex = await Assert.ThrowsAsync<MailGrpcException>(() => Factory.OpenAsync(record, CancellationToken.None));
        Assert.Equal(ErrorKind.FailedPrecondition, ex.Kind);
        Assert.Equal("REAUTHORIZATION_REQUIRED", ex.Reason);
        Assert.Equal(1, _host.Credentials.RenewCalls);
        Assert.Equal(1, _host.Credentials.GiveUps);
        // The lease was released: another session can start at once.
        Assert.False((await Infrastructure.TestRedis.Connection.GetDatabase().StringGetAsync(Server.Storage.StoreKeys.Pop3Lease(record.Tenant, record.Id))).HasValue);
    }

    [Fact]
    public async Task A_certificate_for_another_name_is_refused_even_from_the_trusted_ca()
    {
        var user = await SeededPasswordUserAsync(1);
        var record = Record(user, Security.ImplicitTls, rig.WrongNamePort);
        _host.Credentials.Current[record.Id] = new Pop3Credential(Pop3CredentialKind.Password, user, "unused", null);

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => Factory.OpenAsync(record, CancellationToken.None));
        var mapped = ExceptionMapper.Classify(ex, CancellationToken.None);
        Assert.Equal(ErrorKind.FailedPrecondition, mapped.Kind);
        Assert.Equal(ErrorReasons.Pop3TlsFailed, mapped.Reason);
    }

    [Fact]
    public async Task Without_the_extra_ca_the_rig_certificate_is_not_trusted()
    {
        await using var host = new MessagesHost(rig, new Dictionary<string, string?> { ["MailGrpc:Tls:ExtraTrustedCaFile"] = "" });
        var user = await SeededPasswordUserAsync(1);
        var record = Record(user, Security.ImplicitTls, rig.Pop3sPort) with { Tenant = host.Tenant.Name };
        host.Credentials.Current[record.Id] = new Pop3Credential(Pop3CredentialKind.Password, user, "unused", null);

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => host.Services.GetRequiredService<Pop3SessionFactory>().OpenAsync(record, CancellationToken.None));
        Assert.Equal(ErrorReasons.Pop3TlsFailed, ExceptionMapper.Classify(ex, CancellationToken.None).Reason);
    }

    [Fact]
    public async Task The_ssrf_guard_runs_at_connect_time()
    {
        await using var host = new MessagesHost(rig, new Dictionary<string, string?> { ["MailGrpc:Network:AllowPrivateAddresses"] = "false" });
        var record = Record("nobody@rig.test", Security.ImplicitTls, rig.Pop3sPort) with { Tenant = host.Tenant.Name };
        host.Credentials.Current[record.Id] = new Pop3Credential(Pop3CredentialKind.Password, "nobody@rig.test", "x", null);

        var ex = await Assert.ThrowsAsync<MailGrpcException>(() => host.Services.GetRequiredService<Pop3SessionFactory>().OpenAsync(record, CancellationToken.None));
        Assert.Equal(ErrorReasons.HostNotAllowed, ex.Reason);
    }

    [Fact]
    public async Task A_closed_port_is_unavailable_connect_failed()
    {
        var record = Record("nobody@rig.test", Security.None, 1);
        _host.Credentials.Current[record.Id] = new Pop3Credential(Pop3CredentialKind.Password, "nobody@rig.test", "x", null);
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => Factory.OpenAsync(record, CancellationToken.None));
        var mapped = ExceptionMapper.Classify(ex, CancellationToken.None);
        Assert.Equal(ErrorKind.Unavailable, mapped.Kind);
        Assert.Equal(ErrorReasons.Pop3ConnectFailed, mapped.Reason);
    }

    [Fact]
    public async Task A_second_session_waits_for_the_lease_then_gets_mailbox_busy()
    {
        var user = Pop3Rig.NewUser("lease");
        var password = rig.AddPasswordUser(user);
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(1, 1000)]);
        var record = Record(user, Security.ImplicitTls, rig.Pop3sPort);
        _host.Credentials.Current[record.Id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);

        await using (var first = await Factory.OpenAsync(record, CancellationToken.None))
        {
            var started = DateTime.UtcNow;
            var ex = await Assert.ThrowsAsync<MailGrpcException>(() => Factory.OpenAsync(record, TimeSpan.FromMilliseconds(600), CancellationToken.None));
            Assert.Equal(ErrorReasons.MailboxBusy, ex.Reason);
            Assert.Equal(ErrorKind.Unavailable, ex.Kind);
            Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5));

            // A waiter gets the session as soon as the holder ends.
            // (That it does not get it while the holder lives is shown above: the bounded wait ended in MAILBOX_BUSY.)
            var waiting = Factory.OpenAsync(record, TimeSpan.FromSeconds(10), CancellationToken.None);
            Assert.False(waiting.IsCompleted);
            await first.DisposeAsync();
            await using var second = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Single(await second.ListAsync());
        }
    }

    [Fact]
    public async Task Cancelling_a_login_leaves_no_session_and_no_lease()
    {
        var user = await SeededPasswordUserAsync(1);
        var record = Record(user, Security.ImplicitTls, rig.Pop3sPort);
        _host.Credentials.Current[record.Id] = new Pop3Credential(Pop3CredentialKind.Password, user, "x", null);
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Factory.OpenAsync(record, cts.Token));
        Assert.False((await Infrastructure.TestRedis.Connection.GetDatabase().StringGetAsync(Server.Storage.StoreKeys.Pop3Lease(record.Tenant, record.Id))).HasValue);
    }
}
