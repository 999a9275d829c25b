using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Authorization.Strict;

/// <summary>
/// One headless chromium for the whole test run: tests/rig/oidc/browser.js in its <c>serve</c> mode, started on first use
/// and stopped by its PID when the test process exits (it also exits, closing chromium, when its stdin closes — if this
/// process dies first). A browser start costs seconds; every run still gets a fresh incognito context of its own, so no
/// run sees another's cookies. Runs may overlap.
/// </summary>
internal sealed class StrictBrowser : IDisposable
{
    private static readonly Lock Gate = new();
    private static StrictBrowser? s_current;

    private readonly Process _process;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _writeGate = new();
    private long _nextId;

    static StrictBrowser() => AppDomain.CurrentDomain.ProcessExit += (_, _) => s_current?.Dispose();

    private StrictBrowser(string script, string rigDir)
    {
        var info = new ProcessStartInfo("node")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add("serve");
        info.Environment["MAILGRPC_RIG_DIR"] = rigDir;
        _process = new Process { StartInfo = info, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        _process.Exited += (_, _) => FailAll();
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Runs browser.js with <paramref name="args"/> (as on its command line) and returns what it printed.</summary>
    public static Task<JsonObject> RunAsync(string script, string rigDir, IReadOnlyList<string> args, TimeSpan timeout)
    {
        StrictBrowser browser;
        lock (Gate)
        {
            if (s_current is null || s_current._process.HasExited)
            {
                s_current?.Dispose();
                s_current = new StrictBrowser(script, rigDir);
            }

            browser = s_current;
        }

        return browser.SendAsync(args, timeout);
    }

    private async Task<JsonObject> SendAsync(IReadOnlyList<string> args, TimeSpan timeout)
    {
        var id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        var line = new JsonObject { ["id"] = id, ["args"] = new JsonArray([.. args.Select(a => JsonValue.Create(a))]) }.ToJsonString();
        try
        {
            lock (_writeGate)
            {
                _process.StandardInput.WriteLine(line);
                _process.StandardInput.Flush();
            }
        }
        catch (IOException)
        {
            // It exited (e.g. chromium did not start): its stderr says why, below.
        }

        if (_process.HasExited)
        {
            FailAll();
        }

        try
        {
            return await reply.Task.WaitAsync(timeout);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    private void OnLine(string? line)
    {
        if (string.IsNullOrWhiteSpace(line))
        {
            return;
        }

        JsonObject answer;
        try
        {
            answer = JsonNode.Parse(line)!.AsObject();
        }
        catch (JsonException)
        {
            return; // not an answer (nothing else is written to stdout, but a stray line must not break the run)
        }

        if (answer["id"]?.GetValue<long>() is not { } id || !_pending.TryGetValue(id, out var reply))
        {
            return;
        }

        if (answer["error"] is { } error)
        {
            reply.TrySetException(new InvalidOperationException($"browser.js failed: {error.GetValue<string>()}"));
        }
        else
        {
            reply.TrySetResult(answer["result"]!.AsObject());
        }
    }

    private void FailAll()
    {
        string stderr;
        lock (_stderr)
        {
            stderr = _stderr.ToString();
        }

        foreach (var reply in _pending.Values)
        {
            reply.TrySetException(new InvalidOperationException($"browser.js serve exited ({_process.ExitCode}): {stderr}"));
        }
    }

    /// <summary>Stops browser.js (and with it chromium), by its PID if it does not exit when its stdin closes.</summary>
    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close(); // browser.js closes chromium and exits
            if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            // already gone
        }

        _process.Dispose();
    }
}
