using MailGrpc.Server.Storage;
using StackExchange.Redis;

namespace MailGrpc.Tests.Authorization.Entra;

/// <summary>The real store, except that writes of MSAL cache blobs fail like a dropped Redis connection while <see cref="Failing"/>.</summary>
internal sealed class MsalWriteFailingStore
{
    private int _failures;

    public volatile bool Failing;

    public int Failures => _failures;

    public IStateStore Wrap(IStateStore inner) => new Store(inner, this);

    private void ThrowIfFailing(string key)
    {
        if (Failing && key.EndsWith(":msal", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _failures);
            throw new RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None, "injected: Redis went away while writing the MSAL cache");
        }
    }

    private sealed class Store(IStateStore inner, MsalWriteFailingStore owner) : IStateStore
    {
        public bool IsEmbedded => inner.IsEmbedded;

        public Task<bool> PingAsync(CancellationToken cancellationToken) => inner.PingAsync(cancellationToken);

        public Task<VersionedValue?> GetVersionedAsync(string key, CancellationToken cancellationToken) => inner.GetVersionedAsync(key, cancellationToken);

        public Task<string?> PutVersionedAsync(string key, byte[] value, string? expectedVersion, CancellationToken cancellationToken)
        {
            owner.ThrowIfFailing(key);
            return inner.PutVersionedAsync(key, value, expectedVersion, cancellationToken);
        }

        public Task<string?> PutVersionedAsync(string key, byte[] value, string? expectedVersion, TimeSpan expiry, CancellationToken cancellationToken)
        {
            owner.ThrowIfFailing(key);
            return inner.PutVersionedAsync(key, value, expectedVersion, expiry, cancellationToken);
        }

        public Task<bool> DeleteVersionedAsync(string key, string expectedVersion, CancellationToken cancellationToken) => inner.DeleteVersionedAsync(key, expectedVersion, cancellationToken);

        public Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken) => inner.GetAsync(key, cancellationToken);

        public Task SetAsync(string key, byte[] value, TimeSpan? expiry, CancellationToken cancellationToken) => inner.SetAsync(key, value, expiry, cancellationToken);

        public Task<bool> SetIfAbsentAsync(string key, byte[] value, TimeSpan expiry, CancellationToken cancellationToken) => inner.SetIfAbsentAsync(key, value, expiry, cancellationToken);

        public Task<byte[]?> TakeAsync(string key, CancellationToken cancellationToken) => inner.TakeAsync(key, cancellationToken);

        public Task<bool> RenewIfEqualAsync(string key, byte[] value, TimeSpan expiry, CancellationToken cancellationToken) => inner.RenewIfEqualAsync(key, value, expiry, cancellationToken);

        public Task<bool> DeleteIfEqualAsync(string key, byte[] value, CancellationToken cancellationToken) => inner.DeleteIfEqualAsync(key, value, cancellationToken);

        public Task<long> DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) => inner.DeleteAsync(keys, cancellationToken);

        public Task<long> SetAddAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken) => inner.SetAddAsync(key, members, cancellationToken);

        public Task<long> SetRemoveAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken) => inner.SetRemoveAsync(key, members, cancellationToken);

        public Task<bool[]> SetContainsAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken) => inner.SetContainsAsync(key, members, cancellationToken);

        public Task<IReadOnlyList<string>> SetMembersAsync(string key, CancellationToken cancellationToken) => inner.SetMembersAsync(key, cancellationToken);

        public Task IndexAddAsync(string key, string member, CancellationToken cancellationToken) => inner.IndexAddAsync(key, member, cancellationToken);

        public Task IndexRemoveAsync(string key, string member, CancellationToken cancellationToken) => inner.IndexRemoveAsync(key, member, cancellationToken);

        public Task<IReadOnlyList<string>> IndexRangeAsync(string key, string? after, int count, CancellationToken cancellationToken) => inner.IndexRangeAsync(key, after, count, cancellationToken);
    }
}
