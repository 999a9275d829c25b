using MailGrpc.Tests.Infrastructure;
using Xunit.Abstractions;

// Collections (a class, or the classes sharing a [Collection]) run in parallel; the tests of one collection run one after
// another. The rig-backed tests mostly wait — on a browser, a server process's start, Dovecot's 10 s [IN-USE] lock wait,
// a token's expiry — not on the CPU, so four collections at a time overlap those waits on a 2-core machine (xunit's
// default is one per core). `dotnet test -- xUnit.MaxParallelThreads=2` overrides it for one run. Tests that bound a
// wall-clock time (a takeover within the lease, a drain, a diagnose deadline) or kill Redis Cluster nodes (failover,
// durable writes: "redis-cluster-failover") are in collections with DisableParallelization: xunit runs those after the
// others, one at a time, with nothing else running. The cluster tests that leave the nodes alone ("redis-cluster") run
// in parallel with the rest.
[assembly: CollectionBehavior(MaxParallelThreads = 4)]
[assembly: TestCollectionOrderer(LongChainsFirst.TypeName, "MailGrpc.Tests")]

namespace MailGrpc.Tests.Infrastructure;

/// <summary>
/// Starts the long chains first: the collections whose tests run one after another for minutes (the POP3 rig, the provider
/// personalities, the rig tests, the Redis Cluster tests that leave its nodes alone, the strict-provider classes). Only so many collections run at once, so a long one started
/// last would run alone at the end while the other slots sit idle.
/// </summary>
public sealed class LongChainsFirst : ITestCollectionOrderer
{
    public const string TypeName = "MailGrpc.Tests.Infrastructure.LongChainsFirst";

    private static readonly string[] Longest = ["pop3", "personalities", "rig", MailGrpc.Tests.Faults.RedisClusterCollectionDefinition.Name];

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderBy(Rank).ThenBy(c => c.DisplayName, StringComparer.Ordinal);

    private static int Rank(ITestCollection collection)
    {
        var named = Array.IndexOf(Longest, collection.DisplayName);
        if (named >= 0)
        {
            return named;
        }

        // A class's own collection is named "Test collection for <full class name>".
        return collection.DisplayName.Contains(".Authorization.Strict.", StringComparison.Ordinal) ? Longest.Length : Longest.Length + 1;
    }
}

/// <summary>
/// The POP3 rig's tests that bound a wall-clock time (a takeover within the lease, a drain after SIGTERM, a diagnose
/// deadline): run alone, after the parallel collections (see above).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Pop3AloneGroup : ICollectionFixture<MailGrpc.Tests.Messages.Pop3Rig>
{
    public const string Name = "pop3-alone";
}
