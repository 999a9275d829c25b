namespace MailGrpc.Tests.Infrastructure;

/// <summary>The two state stores every storage and registry test runs against.</summary>
public enum StoreKind
{
    Redis,
    Embedded,
}

public static class StoreKinds
{
    public static TheoryData<StoreKind> All => new() { StoreKind.Redis, StoreKind.Embedded };

    /// <summary>Settings selecting the store: the rig's Redis, or empty for the embedded store.</summary>
    public static Dictionary<string, string?> Settings(StoreKind kind) => new()
    {
        ["MailGrpc:Redis:Configuration"] = kind == StoreKind.Redis ? TestRedis.Configuration : string.Empty,
    };
}
