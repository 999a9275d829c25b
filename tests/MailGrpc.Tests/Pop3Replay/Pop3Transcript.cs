namespace MailGrpc.Tests.Pop3Replay;

/// <summary>One line of a recorded POP3 dialogue: what the server sends (S:) or what the client must send (C:).</summary>
public sealed record Pop3TranscriptLine(bool FromServer, string Text);

/// <summary>
/// A recorded POP3 dialogue, written one line per line as <c>S: text</c> (the server sends it) or <c>C: text</c> (the
/// client must send exactly this). Lines starting with <c>#</c> are comments (the transcript's source).
/// </summary>
public sealed class Pop3Transcript
{
    private Pop3Transcript(string name, IReadOnlyList<Pop3TranscriptLine> lines)
    {
        Name = name;
        Lines = lines;
    }

    public string Name { get; }

    public IReadOnlyList<Pop3TranscriptLine> Lines { get; }

    public static Pop3Transcript Parse(string name, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lines = new List<Pop3TranscriptLine>();
        foreach (var raw in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            if (raw.Length == 0 || raw[0] == '#')
            {
                continue;
            }

            // "S: " / "C: "; a bare "S:" or "C:" is an empty line (the blank line of a message, an empty SASL response).
            var text2 = raw.Length > 3 ? raw[3..] : string.Empty;
            lines.Add(raw[0] switch
            {
                'S' when raw.StartsWith("S:", StringComparison.Ordinal) => new Pop3TranscriptLine(true, text2),
                'C' when raw.StartsWith("C:", StringComparison.Ordinal) => new Pop3TranscriptLine(false, text2),
                _ => throw new FormatException($"{name}: a transcript line starts with 'S: ' or 'C: ', not '{raw}'"),
            });
        }

        return new Pop3Transcript(name, lines);
    }

    /// <summary>A transcript file of Pop3Replay/Transcripts (copied next to the test assembly).</summary>
    public static Pop3Transcript Load(string fileName, IReadOnlyDictionary<string, string>? values = null)
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Pop3Replay", "Transcripts", fileName)).Select(line =>
        {
            // Placeholders are filled in dialogue lines only: a comment may name them.
            if (line.StartsWith('#'))
            {
                return line;
            }

            foreach (var (key, value) in values ?? new Dictionary<string, string>())
            {
                line = line.Replace("{" + key + "}", value, StringComparison.Ordinal);
            }

            return line;
        });
        return Parse(fileName, string.Join('\n', lines));
    }

    /// <summary>This transcript up to (and without) the first client line equal to <paramref name="command"/>, then <paramref name="tail"/>.</summary>
    public Pop3Transcript CutBefore(string command, string tail)
    {
        var index = Lines.ToList().FindIndex(l => !l.FromServer && l.Text == command);
        if (index < 0)
        {
            throw new ArgumentException($"{Name} has no client line '{command}'", nameof(command));
        }

        return new Pop3Transcript(Name + " (cut)", [.. Lines.Take(index), .. Parse(Name, tail).Lines]);
    }
}
