using MailGrpc.Server.Events;
using MailGrpc.Server.Hosting;
using MailGrpc.Server.Sync;
using MailGrpc.Tests.Mailboxes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;

namespace MailGrpc.Tests.Sync;

/// <summary>An event sink that keeps what it is given (fast tests).</summary>
internal sealed class RecordingEventSink : IMailEventSink
{
    private readonly List<(string Tenant, MailEvent Event)> _events = [];

    public IReadOnlyList<(string Tenant, MailEvent Event)> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    public Task<string> AppendAsync(string tenant, MailEvent mailEvent, CancellationToken cancellationToken)
    {
        lock (_events)
        {
            _events.Add((tenant, mailEvent));
            return Task.FromResult($"{_events.Count}-0");
        }
    }
}

/// <summary>
/// The server's DI table (<c>AddMailGrpc</c>) built but not started, with the embedded store, sync enabled (in-memory
/// schedule and sync state), a fake clock and a recording event sink: the registry's and the state recorder's effects on
/// the schedule and the feed, without Redis or POP3.
/// </summary>
public sealed class SyncCore : IAsyncDisposable
{
    public const string Tenant = "sync-tenant";

    private readonly WebApplication _app;

    public SyncCore(IReadOnlyDictionary<string, string?>? extra = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        var settings = new Dictionary<string, string?>
        {
            ["MailGrpc:Encryption:Keys:k1"] = RegistryHosts.EncryptionKey,
            ["MailGrpc:Encryption:ActiveKeyId"] = "k1",
            ["MailGrpc:Network:AllowedHosts:0"] = "pop.internal.test",
            ["MailGrpc:Sync:Enabled"] = "true",
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddMailGrpc();
        builder.Services.AddSingleton<TimeProvider>(Clock);
        builder.Services.RemoveAll<IMailEventSink>();
        builder.Services.AddSingleton<IMailEventSink>(Events);
        _app = builder.Build();
    }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 12, 7, 3, 0, 0, TimeSpan.Zero));

    internal RecordingEventSink Events { get; } = new();

    internal InMemorySyncScheduleStore Schedule => Assert.IsType<InMemorySyncScheduleStore>(Get<ISyncScheduleStore>());

    internal T Get<T>()
        where T : notnull => _app.Services.GetRequiredService<T>();

    /// <summary>When the mailbox is next due in the schedule (null: not scheduled).</summary>
    internal DateTimeOffset? DueAt(string mailboxId)
    {
        var member = SyncKeys.Member(Tenant, mailboxId);
        return Schedule.DueAt(Get<SyncSchedule>().ShardOf(member), member);
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
