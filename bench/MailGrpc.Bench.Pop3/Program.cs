// POP3 retrieval benchmark (not a test). Over implicit TLS from the rig's Dovecot, 1,000 messages x 50 KB, all readers
// measured in one run, alternating, median of N rounds:
//   (a) MailKit, GetStreamAsync per message;  (b) a raw pipelined POP3 reader over SslStream (the practical limit);
//   (c) MailGrpc StreamMessages received by a gRPC client from a real server process — once per server given.
// Then peak RSS of each server process while 20 mailboxes each stream one 20 MB message concurrently, the servers
// alternating, MEMORY_ROUNDS (default 3) times each.
// Usage: MailGrpc.Bench.Pop3 <rounds> <name>=<server> [<name>=<server>...]   (bench/pop3.sh builds both and runs it)
// A server is a .dll (run with dotnet) or an executable (native AOT). BENCH_ONLY_MEMORY=1 skips the throughput part.
// BENCH_FAIRNESS=1 runs only the fairness measurement (bench/fairness.sh): another mailbox's StreamMessages rate with
// and without 7 slow consumers of 20 MB messages on the same server (default 256 MiB byte budget).
using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MailGrpc.V1;
using MailKit.Net.Pop3;
using MailKit.Security;

if (args.Length < 2 || args.Skip(1).Any(a => !a.Contains('=', StringComparison.Ordinal)))
{
    throw new ArgumentException("usage: <rounds> <name>=<server dll or executable> [<name>=<server>...]");
}

var rounds = int.Parse(args[0], CultureInfo.InvariantCulture);
var servers = args[1..].Select(a => (Name: a[..a.IndexOf('=', StringComparison.Ordinal)], Path: Path.GetFullPath(a[(a.IndexOf('=', StringComparison.Ordinal) + 1)..]))).ToList();
var memoryRounds = int.Parse(Environment.GetEnvironmentVariable("MEMORY_ROUNDS") ?? "3", CultureInfo.InvariantCulture);
var rig = Rig.Load();
const int Count = 1000;
const int Size = 50_000;

var apiKey = "bench-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
var tenant = "bench-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
if (Environment.GetEnvironmentVariable("BENCH_FAIRNESS") == "1")
{
    await Fairness.RunAsync(rig, servers, rounds, tenant, apiKey);
    return;
}

if (Environment.GetEnvironmentVariable("BENCH_ONLY_MEMORY") != "1")
{
    var user = Rig.NewUser("bench");
    var password = rig.AddPasswordUser(user);
    rig.Seed(user, Enumerable.Range(0, Count).Select(i => Rig.Message(i, Size)));
    Console.WriteLine($"seeded {Count} x {Size} B for {user}");

    var started = new List<(string Name, Server Server, MessageService.MessageServiceClient Client, string MailboxId)>();
    try
    {
        foreach (var (name, path) in servers)
        {
            var server = await Server.StartAsync(path, rig, tenant, apiKey, []);
            started.Add((name, server, server.Client(apiKey), await server.CreateMailboxAsync(apiKey, user, password, rig.Pop3sPort)));
        }

        var times = new Dictionary<string, List<double>> { ["a"] = [], ["b"] = [] };
        foreach (var s in started)
        {
            times["c " + s.Name] = [];
        }

        long check = 0;
        for (var round = -1; round < rounds; round++) // round -1 warms up
        {
            var measured = new Dictionary<string, (double Seconds, long Bytes)>
            {
                ["a"] = await Measure(() => MailKitLoop(rig, user, password)),
                ["b"] = await Measure(() => RawPipelined(rig, user, password, 50)),
            };
            foreach (var s in started)
            {
                measured["c " + s.Name] = await Measure(() => ViaMailGrpc(s.Client, s.MailboxId));
            }

            if (measured.Values.Select(m => m.Bytes).Distinct().Count() != 1)
            {
                throw new InvalidOperationException("byte counts differ: " + string.Join(" ", measured.Select(m => $"{m.Key}={m.Value.Bytes}")));
            }

            check = measured["a"].Bytes;
            if (round >= 0)
            {
                foreach (var (key, value) in measured)
                {
                    times[key].Add(value.Seconds);
                }
            }

            Console.WriteLine($"round {round}: " + string.Join(" ", measured.Select(m => $"{m.Key}={m.Value.Seconds:0.000}s")));
        }

        static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);
        Console.WriteLine($"bytes per run: {check:N0}");
        var (ma, mb) = (Median(times["a"]), Median(times["b"]));
        Console.WriteLine($"median of {rounds}: (a) MailKit GetStreamAsync loop {ma:0.000} s | (b) raw pipelined {mb:0.000} s");
        foreach (var s in started)
        {
            var mc = Median(times["c " + s.Name]);
            Console.WriteLine($"  (c) MailGrpc StreamMessages, {s.Name} server: {mc:0.000} s   (c)/(a) = {mc / ma:0.00} (target <= 0.8)   (c)/(b) = {mc / mb:0.00} (target <= 3)");
        }
    }
    finally
    {
        foreach (var s in started)
        {
            await s.Server.DisposeAsync();
        }
    }
}

// Memory: 20 mailboxes x one 20 MB message, streamed concurrently; RSS of the server sampled every 10 ms.
const long Budget = 64L * 1024 * 1024;
const long Limit = Budget + 150_000_000; // "the byte budget plus 150 MB", MB read as 10^6 bytes (the stricter reading)
var big = Enumerable.Range(0, 20).Select(i =>
{
    var u = Rig.NewUser("big");
    var p = rig.AddPasswordUser(u, waitForDovecot: false);
    rig.Seed(u, [Rig.Message(i, 20 * 1024 * 1024)]);
    return (User: u, Password: p);
}).ToList();
var peaks = servers.ToDictionary(s => s.Name, _ => new List<long>());
for (var round = 0; round < memoryRounds; round++)
{
    foreach (var (name, path) in servers)
    {
        await using var server = await Server.StartAsync(path, rig, tenant, apiKey, new Dictionary<string, string>
        {
            ["MailGrpc__Pop3__MemoryBudgetBytes"] = Budget.ToString(CultureInfo.InvariantCulture),
            ["MailGrpc__Pop3__MaxMessageSize"] = (25L * 1024 * 1024).ToString(CultureInfo.InvariantCulture),
        });
        var client = server.Client(apiKey);
        var ids = new List<string>();
        foreach (var (u, p) in big)
        {
            ids.Add(await server.CreateMailboxAsync(apiKey, u, p, rig.Pop3sPort));
        }

        var fresh = Server.Rss(server.Pid);
        // Warm the server (JIT where there is one, pools, TLS) on one 20 MB stream first.
        await ViaMailGrpc(client, ids[0]);
        var idle = Server.Rss(server.Pid);
        long peak = idle;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peak = Math.Max(peak, Server.Rss(server.Pid));
                await Task.Delay(10);
            }
        });
        var sw = Stopwatch.StartNew();
        var results = await Task.WhenAll(ids.Select(id => ViaMailGrpc(client, id)));
        sw.Stop();
        await stop.CancelAsync();
        await sampler;
        peaks[name].Add(peak);
        Console.WriteLine($"memory {name}: 20 x 20 MB concurrently in {sw.Elapsed.TotalSeconds:0.00} s, {results.Sum():N0} B; server RSS started {Mib(fresh)} MiB, after warm-up {Mib(idle)} MiB, peak {Mib(peak)} MiB (limit {Mib(Limit)} MiB)");
    }
}

foreach (var (name, list) in peaks)
{
    Console.WriteLine($"memory {name}: peak RSS over {list.Count} runs: max {Mib(list.Max())} MiB, min {Mib(list.Min())} MiB; budget {Mib(Budget)} MiB + 150 MB = {Limit / 1e6:0.0} MB = {Mib(Limit)} MiB -> {(list.Max() <= Limit ? "OK" : "OVER")}");
}

static string Mib(long bytes) => (bytes / 1048576.0).ToString("0", CultureInfo.InvariantCulture);

static async Task<(double Seconds, long Bytes)> Measure(Func<Task<long>> run)
{
    var sw = Stopwatch.StartNew();
    var bytes = await run();
    return (sw.Elapsed.TotalSeconds, bytes);
}

static async Task<long> MailKitLoop(Rig rig, string user, string password)
{
    using var client = new Pop3Client { ServerCertificateValidationCallback = rig.Validate };
    await client.ConnectAsync("127.0.0.1", rig.Pop3sPort, SecureSocketOptions.SslOnConnect);
    await client.AuthenticateAsync(new SaslMechanismPlain(user, password));
    long total = 0;
    for (var i = 0; i < client.Count; i++)
    {
        await using var stream = await client.GetStreamAsync(i);
        total += stream.Length;
    }

    await client.DisconnectAsync(true);
    return total;
}

static async Task<long> RawPipelined(Rig rig, string user, string password, int depth)
{
    using var tcp = new TcpClient { NoDelay = true };
    await tcp.ConnectAsync("127.0.0.1", rig.Pop3sPort);
    await using var ssl = new SslStream(tcp.GetStream(), false, rig.Validate);
    await ssl.AuthenticateAsClientAsync("127.0.0.1");
    var reader = new RawReader(ssl);
    await reader.LineAsync();
    await ssl.WriteAsync(Encoding.ASCII.GetBytes($"USER {user}\r\nPASS {password}\r\nSTAT\r\n"));
    await reader.LineAsync();
    await reader.LineAsync();
    var stat = await reader.LineAsync();
    var count = int.Parse(stat.Split(' ')[1], CultureInfo.InvariantCulture);
    long total = 0;
    for (var first = 1; first <= count; first += depth)
    {
        var last = Math.Min(count, first + depth - 1);
        var commands = new StringBuilder();
        for (var i = first; i <= last; i++)
        {
            commands.Append("RETR ").Append(i).Append("\r\n");
        }

        await ssl.WriteAsync(Encoding.ASCII.GetBytes(commands.ToString()));
        for (var i = first; i <= last; i++)
        {
            await reader.LineAsync();
            total += await reader.MultilineAsync();
        }
    }

    await ssl.WriteAsync("QUIT\r\n"u8.ToArray());
    await reader.LineAsync();
    return total;
}

static async Task<long> ViaMailGrpc(MessageService.MessageServiceClient client, string mailboxId)
{
    using var call = client.StreamMessages(new StreamMessagesRequest { MailboxId = mailboxId });
    long total = 0;
    await foreach (var response in call.ResponseStream.ReadAllAsync())
    {
        if (response.Frame.FrameCase == MessageFrame.FrameOneofCase.Chunk)
        {
            total += response.Frame.Chunk.Data.Length;
        }
    }

    return total;
}

/// <summary>A minimal buffered POP3 response reader: status lines and dot-terminated bodies (dot-unstuffed length).</summary>
internal sealed class RawReader(Stream stream)
{
    private readonly byte[] _buffer = new byte[256 * 1024];
    private int _start;
    private int _end;

    public async Task<string> LineAsync()
    {
        while (true)
        {
            var index = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8);
            if (index >= 0)
            {
                var line = Encoding.ASCII.GetString(_buffer, _start, index);
                _start += index + 2;
                if (line.StartsWith("-ERR", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException(line);
                }

                return line;
            }

            await FillAsync();
        }
    }

    /// <summary>Reads a body up to CRLF.CRLF; returns its length after dot-unstuffing (the message as sent).</summary>
    public async Task<long> MultilineAsync()
    {
        long length = 0;
        while (true)
        {
            var span = _buffer.AsSpan(_start, _end - _start);
            var line = span.IndexOf("\r\n"u8);
            if (line < 0)
            {
                await FillAsync();
                continue;
            }

            if (line == 1 && span[0] == (byte)'.')
            {
                _start += 3;
                return length;
            }

            length += line + 2 - (span[0] == (byte)'.' ? 1 : 0);
            _start += line + 2;
        }
    }

    private async Task FillAsync()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        var read = await stream.ReadAsync(_buffer.AsMemory(_end));
        if (read == 0)
        {
            throw new EndOfStreamException();
        }

        _end += read;
    }
}

/// <summary>The rig (tests/rig/up.sh): env file, passwd users, Maildir seeding, CA trust.</summary>
internal sealed class Rig
{
    private readonly Dictionary<string, string> _env;
    private readonly X509Certificate2 _ca;

    private Rig(Dictionary<string, string> env)
    {
        _env = env;
        _ca = X509CertificateLoader.LoadCertificateFromFile(env["CA_FILE"]);
    }

    public int Pop3sPort => int.Parse(_env["POP3S_PORT"], CultureInfo.InvariantCulture);

    public string this[string key] => _env[key];

    public static Rig Load()
    {
        var dir = Environment.GetEnvironmentVariable("MAILGRPC_RIG_DIR") ?? "/tmp/mailgrpc-rig";
        var env = File.ReadAllLines(Path.Combine(dir, "rig.env"))
            .Where(l => l.Length > 0 && l[0] != '#' && l.Contains('=', StringComparison.Ordinal))
            .ToDictionary(l => l[..l.IndexOf('=', StringComparison.Ordinal)], l => l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..]);
        return new Rig(env);
    }

    public bool Validate(object? sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (certificate is null || errors != SslPolicyErrors.RemoteCertificateChainErrors)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.Add(_ca);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return custom.Build(new X509Certificate2(certificate));
    }

    public static string NewUser(string prefix) => $"{prefix}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5))}@rig.test";

    /// <summary>The repository root: the first parent of the bench's folder holding tests/rig.</summary>
    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "tests", "rig", "add-password-user.sh")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("tests/rig not found above " + AppContext.BaseDirectory);
    }

    public string AddPasswordUser(string user, bool waitForDovecot = true)
    {
        // The rig's one writer of app passwords; a new user can log in when it returns (waitForDovecot is kept for callers).
        _ = waitForDovecot;
        var password = "pw-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var script = Path.Combine(RepoRoot(), "tests", "rig", "add-password-user.sh");
        var info = new ProcessStartInfo("bash", [script, user, password]) { RedirectStandardOutput = true };
        info.Environment["MAILGRPC_RIG_DIR"] = _env["MAILGRPC_RIG_DIR"];
        using var add = Process.Start(info)!;
        add.StandardOutput.ReadToEnd();
        add.WaitForExit();
        if (add.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} failed ({add.ExitCode})");
        }

        return password;
    }

    public void Seed(string user, IEnumerable<byte[]> messages)
    {
        var home = Path.Combine(_env["MAIL_ROOT"], user);
        var maildir = Path.Combine(home, "Maildir");
        foreach (var sub in new[] { "new", "cur", "tmp" })
        {
            Directory.CreateDirectory(Path.Combine(maildir, sub));
        }

        var stamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var i = 0;
        foreach (var message in messages)
        {
            File.WriteAllBytes(Path.Combine(maildir, "new", $"{stamp}.M{i++:D7}P{Environment.ProcessId}.bench"), message);
        }

        using var chown = Process.Start("chown", ["-R", $"{_env["MAIL_UID"]}:{_env["MAIL_GID"]}", home])!;
        chown.WaitForExit();
    }

    public static byte[] Message(int number, int size)
    {
        var sb = new StringBuilder(size + 200);
        sb.Append(CultureInfo.InvariantCulture, $"From: bench@example.org\r\nTo: rcpt@example.org\r\nSubject: Bench {number}\r\nMessage-ID: <b{number}@example.org>\r\n\r\n");
        var line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor " + number + "\r\n";
        while (sb.Length + line.Length <= size)
        {
            sb.Append(line);
        }

        return Encoding.ASCII.GetBytes(sb.ToString());
    }
}

/// <summary>
/// Fairness: 7 mailboxes each stream 20 MB messages to readers that take one frame every 200 ms (≈ 320 KB/s), holding
/// whatever the server reserved for them; meanwhile another mailbox streams 100 × 200 KB. Its time with the slow readers
/// running is compared with its time alone on the same server (target: at least half the unloaded rate).
/// </summary>
internal static class Fairness
{
    public static async Task RunAsync(Rig rig, List<(string Name, string Path)> servers, int rounds, string tenant, string apiKey)
    {
        var slow = Enumerable.Range(0, 7).Select(i =>
        {
            var u = Rig.NewUser("slow");
            var p = rig.AddPasswordUser(u, waitForDovecot: false);
            rig.Seed(u, [Rig.Message(i, 20 * 1024 * 1024), Rig.Message(100 + i, 20 * 1024 * 1024)]);
            return (User: u, Password: p);
        }).ToList();
        var fastUser = Rig.NewUser("fast");
        var fastPassword = rig.AddPasswordUser(fastUser);
        rig.Seed(fastUser, Enumerable.Range(0, 100).Select(i => Rig.Message(i, 200_000)));
        Console.WriteLine("seeded 7 x 2 x 20 MiB (slow readers) and 100 x 200 KB (the other mailbox)");

        var ratios = servers.ToDictionary(s => s.Name, _ => new List<double>());
        foreach (var (name, path) in servers)
        {
            for (var round = 0; round < rounds; round++)
            {
                await using var server = await Server.StartAsync(path, rig, tenant, apiKey, []);
                var client = server.Client(apiKey);
                var fast = await server.CreateMailboxAsync(apiKey, fastUser, fastPassword, rig.Pop3sPort);
                var slowIds = new List<string>();
                foreach (var (u, p) in slow)
                {
                    slowIds.Add(await server.CreateMailboxAsync(apiKey, u, p, rig.Pop3sPort));
                }

                await Measure(client, fast, TimeSpan.FromSeconds(120)); // warm-up
                var (alone, _) = await Measure(client, fast, TimeSpan.FromSeconds(120));

                using var stop = new CancellationTokenSource();
                var started = new CountdownEvent(slowIds.Count);
                var readers = slowIds.Select(id => SlowReaderAsync(client, id, started, stop.Token)).ToList();
                started.Wait(TimeSpan.FromSeconds(60));
                await Task.Delay(2000); // let every slow stream fetch as far ahead as the server allows
                var (loaded, status) = await Measure(client, fast, TimeSpan.FromSeconds(120));
                await stop.CancelAsync();
                await Task.WhenAll(readers);
                var ratio = loaded is null ? 0 : alone!.Value / loaded.Value;
                ratios[name].Add(ratio);
                Console.WriteLine($"fairness {name} round {round}: alone {alone:0.000} s, with 7 slow 20 MB readers {(loaded is null ? status : $"{loaded:0.000} s")}; rate with/alone = {ratio:0.00} (target >= 0.5) -> {(ratio >= 0.5 ? "OK" : "UNDER")}");
            }
        }

        foreach (var (name, list) in ratios)
        {
            var median = list.Order().ElementAt(list.Count / 2);
            Console.WriteLine($"fairness {name}: median rate with/alone over {list.Count} rounds = {median:0.00} (min {list.Min():0.00}, max {list.Max():0.00}) -> {(median >= 0.5 ? "OK" : "UNDER")}");
        }
    }

    private static async Task<(double? Seconds, string Status)> Measure(MessageService.MessageServiceClient client, string mailboxId, TimeSpan deadline)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            using var call = client.StreamMessages(new StreamMessagesRequest { MailboxId = mailboxId }, deadline: DateTime.UtcNow + deadline);
            long bytes = 0;
            while (await call.ResponseStream.MoveNext())
            {
                if (call.ResponseStream.Current.Frame.FrameCase == MessageFrame.FrameOneofCase.Chunk)
                {
                    bytes += call.ResponseStream.Current.Frame.Chunk.Data.Length;
                }
            }

            return (sw.Elapsed.TotalSeconds, "OK");
        }
        catch (RpcException ex)
        {
            return (null, $"{ex.StatusCode} after {sw.Elapsed.TotalSeconds:0.0} s ({ex.Status.Detail})");
        }
    }

    private static async Task SlowReaderAsync(MessageService.MessageServiceClient client, string mailboxId, CountdownEvent started, CancellationToken stop)
    {
        var first = true;
        try
        {
            using var call = client.StreamMessages(new StreamMessagesRequest { MailboxId = mailboxId }, cancellationToken: stop);
            while (await call.ResponseStream.MoveNext(stop))
            {
                if (first)
                {
                    first = false;
                    started.Signal();
                }

                await Task.Delay(200, stop);
            }
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException)
        {
            if (first)
            {
                started.Signal();
                if (!stop.IsCancellationRequested)
                {
                    Console.WriteLine($"slow reader failed: {ex.Message}");
                }
            }
        }
    }
}

/// <summary>The MailGrpc server as an OS process on free loopback ports.</summary>
internal sealed class Server : IAsyncDisposable
{
    private readonly Process _process;
    private readonly GrpcChannel _channel;

    private Server(Process process, GrpcChannel channel)
    {
        _process = process;
        _channel = channel;
    }

    public int Pid => _process.Id;

    public static async Task<Server> StartAsync(string dll, Rig rig, string tenant, string apiKey, Dictionary<string, string> extra)
    {
        var grpc = FreePort();
        var native = !dll.EndsWith(".dll", StringComparison.Ordinal);
        var info = new ProcessStartInfo(native ? dll : "dotnet", native ? [] : [dll]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(dll)! };
        info.Environment["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpc}";
        info.Environment["Kestrel__Endpoints__Web__Url"] = $"http://127.0.0.1:{FreePort()}";
        info.Environment["Kestrel__Endpoints__Metrics__Url"] = $"http://127.0.0.1:{FreePort()}";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["MailGrpc__Redis__Configuration"] = rig["REDIS"];
        info.Environment["MailGrpc__ApiKeys__0__Tenant"] = tenant;
        info.Environment["MailGrpc__ApiKeys__0__KeyHash"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(apiKey)));
        info.Environment["MailGrpc__Encryption__Keys__k1"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        info.Environment["MailGrpc__Encryption__ActiveKeyId"] = "k1";
        info.Environment["MailGrpc__Tls__ExtraTrustedCaFile"] = rig["CA_FILE"];
        info.Environment["MailGrpc__Network__AllowPrivateAddresses"] = "true";
        foreach (var (k, v) in extra.Where(e => e.Value.Length > 0))
        {
            info.Environment[k] = v;
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("server: " + e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        for (var i = 0; i < 300; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", grpc);
                break;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        return new Server(process, GrpcChannel.ForAddress($"http://127.0.0.1:{grpc}", new GrpcChannelOptions { MaxReceiveMessageSize = 16 * 1024 * 1024 }));
    }

    public MessageService.MessageServiceClient Client(string apiKey) => new(_channel.Intercept(m => { m.Add("x-api-key", apiKey); return m; }));

    public async Task<string> CreateMailboxAsync(string apiKey, string user, string password, int port)
    {
        var invoker = _channel.Intercept(m => { m.Add("x-api-key", apiKey); return m; });
        var id = "b-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        await new MailboxService.MailboxServiceClient(invoker).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox { Username = user, Server = new ServerSettings { Host = "127.0.0.1", Port = port, Security = Security.ImplicitTls }, AuthMethod = new AuthMethod { Password = new PasswordAuth() } },
        });
        await new AuthorizationService.AuthorizationServiceClient(invoker).SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password });
        return id;
    }

    /// <summary>Resident set size in bytes, from /proc.</summary>
    public static long Rss(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
