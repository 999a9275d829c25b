using System.Security.Cryptography;

namespace MailGrpc.Server.Storage;

/// <summary>
/// The embedded, single-process <see cref="IStateStore"/> used when no Redis is configured. Development only: state is
/// lost at exit and replicas cannot share it. One lock keeps every operation atomic, which is all a dev store needs.
/// </summary>
internal sealed class InMemoryStateStore(TimeProvider time) : IStateStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public bool IsEmbedded => true;

    public Task<string?> ServingProblemAsync(CancellationToken cancellationToken) => Task.FromResult<string?>(null);

    public Task<bool> PingAsync(CancellationToken cancellationToken) => Task.FromResult(true);

    public Task<VersionedValue?> GetVersionedAsync(string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(Live(key) is { Version: not null } e ? new VersionedValue(e.Value!, e.Version) : (VersionedValue?)null);
        }
    }

    public Task<string?> PutVersionedAsync(string key, byte[] value, string? expectedVersion, CancellationToken cancellationToken) =>
        PutVersionedAsync(key, value, expectedVersion, TimeSpan.Zero, cancellationToken);

    public Task<string?> PutVersionedAsync(string key, byte[] value, string? expectedVersion, TimeSpan expiry, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var current = Live(key)?.Version;
            var matches = expectedVersion switch
            {
                null => current is null,
                "*" => true,
                _ => current == expectedVersion,
            };
            if (!matches)
            {
                return Task.FromResult<string?>(null);
            }

            var version = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            _entries[key] = new Entry { Value = value.ToArray(), Version = version, ExpiresAt = expiry > TimeSpan.Zero ? ExpiryFrom(expiry) : null };
            return Task.FromResult<string?>(version);
        }
    }

    public Task<bool> DeleteVersionedAsync(string key, string expectedVersion, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (Live(key) is not { Version: not null } e || (expectedVersion != "*" && e.Version != expectedVersion))
            {
                return Task.FromResult(false);
            }

            return Task.FromResult(_entries.Remove(key));
        }
    }

    public Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(Live(key)?.Value?.ToArray());
        }
    }

    public Task SetAsync(string key, byte[] value, TimeSpan? expiry, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _entries[key] = new Entry { Value = value.ToArray(), ExpiresAt = ExpiryFrom(expiry) };
            return Task.CompletedTask;
        }
    }

    public Task<bool> SetIfAbsentAsync(string key, byte[] value, TimeSpan expiry, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (Live(key) is not null)
            {
                return Task.FromResult(false);
            }

            _entries[key] = new Entry { Value = value.ToArray(), ExpiresAt = ExpiryFrom(expiry) };
            return Task.FromResult(true);
        }
    }

    public Task<byte[]?> TakeAsync(string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var value = Live(key)?.Value;
            _entries.Remove(key);
            return Task.FromResult(value);
        }
    }

    public Task<bool> RenewIfEqualAsync(string key, byte[] value, TimeSpan expiry, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (Live(key) is { Value: { } current } e && current.AsSpan().SequenceEqual(value))
            {
                e.ExpiresAt = ExpiryFrom(expiry);
                return Task.FromResult(true);
            }

            return Task.FromResult(false);
        }
    }

    public Task<bool> DeleteIfEqualAsync(string key, byte[] value, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (Live(key) is { Value: { } current } && current.AsSpan().SequenceEqual(value))
            {
                return Task.FromResult(_entries.Remove(key));
            }

            return Task.FromResult(false);
        }
    }

    public Task<long> DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            long deleted = 0;
            foreach (var key in keys)
            {
                if (Live(key) is not null && _entries.Remove(key))
                {
                    deleted++;
                }
            }

            return Task.FromResult(deleted);
        }
    }

    public Task<long> SetAddAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var set = SetOf(key, create: true)!;
            return Task.FromResult((long)members.Count(set.Add));
        }
    }

    public Task<BoundedSetAdd> SetAddBoundedAsync(string key, string member, int max, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var set = SetOf(key, create: true)!;
            var result = set.Contains(member) ? BoundedSetAdd.Present : set.Count >= max ? BoundedSetAdd.Full : BoundedSetAdd.Added;
            if (result == BoundedSetAdd.Added)
            {
                set.Add(member);
            }
            else if (set.Count == 0)
            {
                _entries.Remove(key);
            }

            return Task.FromResult(result);
        }
    }

    public Task<long> SetRemoveAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var set = SetOf(key, create: false);
            var removed = set is null ? 0 : members.Count(set.Remove);
            if (set is { Count: 0 })
            {
                _entries.Remove(key);
            }

            return Task.FromResult((long)removed);
        }
    }

    public Task<bool[]> SetContainsAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var set = SetOf(key, create: false);
            return Task.FromResult(members.Select(m => set?.Contains(m) == true).ToArray());
        }
    }

    public Task<IReadOnlyList<string>> SetMembersAsync(string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<string>>(SetOf(key, create: false)?.ToArray() ?? []);
        }
    }

    public Task IndexAddAsync(string key, string member, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            IndexOf(key, create: true)!.Add(member);
            return Task.CompletedTask;
        }
    }

    public Task IndexRemoveAsync(string key, string member, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var index = IndexOf(key, create: false);
            index?.Remove(member);
            if (index is { Count: 0 })
            {
                _entries.Remove(key);
            }

            return Task.CompletedTask;
        }
    }

    public Task<IReadOnlyList<string>> IndexRangeAsync(string key, string? after, int count, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var index = IndexOf(key, create: false);
            if (index is null)
            {
                return Task.FromResult<IReadOnlyList<string>>([]);
            }

            IEnumerable<string> view = after is null ? index : index.GetViewBetween(after, index.Max!).Where(m => string.CompareOrdinal(m, after) > 0);
            return Task.FromResult<IReadOnlyList<string>>(view.Take(count).ToArray());
        }
    }

    public Task<bool> IndexContainsAsync(string key, string member, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(IndexOf(key, create: false)?.Contains(member) ?? false);
        }
    }

    public Task<KeyScanPage> ScanAsync(string pattern, string cursor, int count, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var start = string.IsNullOrEmpty(cursor) ? 0 : int.Parse(cursor, System.Globalization.CultureInfo.InvariantCulture);
            var keys = _entries.Keys.Where(k => Live(k) is not null).Order(StringComparer.Ordinal).ToArray();
            var page = keys.Skip(start).Take(count).Where(k => GlobMatches(pattern, k)).ToArray();
            var next = start + count;
            return Task.FromResult(new KeyScanPage(page, next >= keys.Length ? string.Empty : next.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    // Only '*' is used by MailGrpc's patterns.
    private static bool GlobMatches(string pattern, string key)
    {
        var parts = pattern.Split('*');
        if (!key.StartsWith(parts[0], StringComparison.Ordinal))
        {
            return false;
        }

        var at = parts[0].Length;
        for (var i = 1; i < parts.Length; i++)
        {
            if (i == parts.Length - 1)
            {
                return key.Length - at >= parts[i].Length && key.EndsWith(parts[i], StringComparison.Ordinal);
            }

            var found = key.IndexOf(parts[i], at, StringComparison.Ordinal);
            if (found < 0)
            {
                return false;
            }

            at = found + parts[i].Length;
        }

        return at == key.Length || parts.Length == 1 && at == key.Length;
    }

    private Entry? Live(string key)
    {
        if (!_entries.TryGetValue(key, out var entry))
        {
            return null;
        }

        if (entry.ExpiresAt is { } at && at <= time.GetUtcNow())
        {
            _entries.Remove(key);
            return null;
        }

        return entry;
    }

    private HashSet<string>? SetOf(string key, bool create)
    {
        if (Live(key) is { Set: { } set })
        {
            return set;
        }

        if (!create)
        {
            return null;
        }

        var entry = new Entry { Set = new HashSet<string>(StringComparer.Ordinal) };
        _entries[key] = entry;
        return entry.Set;
    }

    private SortedSet<string>? IndexOf(string key, bool create)
    {
        if (Live(key) is { Index: { } index })
        {
            return index;
        }

        if (!create)
        {
            return null;
        }

        var entry = new Entry { Index = new SortedSet<string>(StringComparer.Ordinal) };
        _entries[key] = entry;
        return entry.Index;
    }

    private DateTimeOffset? ExpiryFrom(TimeSpan? expiry) => expiry is { } ttl ? time.GetUtcNow() + ttl : null;

    private sealed class Entry
    {
        public byte[]? Value { get; init; }

        public string? Version { get; init; }

        public HashSet<string>? Set { get; init; }

        public SortedSet<string>? Index { get; init; }

        public DateTimeOffset? ExpiresAt { get; set; }
    }
}
