// POP3 servers that behave like Gmail (pop.gmail.com) and Exchange Online (outlook.office365.com), for tests.
// Every line they say and every rule they follow is traced to a public source in tests/rig/README.md
// ("POP3 provider personalities"); nothing here is copied code. No npm packages: node:tls and node:http only.
//
//   node server.js            (env: RIG_TLS_CERT, RIG_TLS_KEY; optional PERSONALITY_GMAIL_PORT,
//                              PERSONALITY_EXCHANGE_PORT, PERSONALITY_ADMIN_PORT — 0 or unset = any free port)
//
// Prints one line `READY {"gmail":P,"exchange":P,"admin":P,"pid":N}` on stdout when listening, then one line per
// session event (never a password or token). Stops on SIGTERM. Everything listens on 127.0.0.1 only.
//
// Admin API (HTTP, JSON, 127.0.0.1):
//   POST /users {personality, user, password?, token?}            add or replace a user (mailbox starts empty)
//   POST /seed {personality, user, messages: [base64...]}         append messages (uids are assigned in order)
//   POST /refusal {personality, user, line | null}                 answer every login of the user with this line
//   GET  /state?personality=&user=                                 counters and per-message flags
import { createServer as createTlsServer } from "node:tls";
import { createServer as createHttpServer } from "node:http";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

const GMAIL = "gmail";
const EXCHANGE = "exchange";

// Per personality: user → { password, token, messages: [{uid, data: Buffer, popped, deleted}], refusal, stats }.
const mailboxes = { [GMAIL]: new Map(), [EXCHANGE]: new Map() };
// Maildrop locks: one session per user at a time (RFC 2449 [IN-USE]).
const locks = { [GMAIL]: new Set(), [EXCHANGE]: new Set() };

function mailbox(personality, user) {
  const box = mailboxes[personality]?.get(user.toLowerCase());
  return box;
}

function log(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

// ---------------------------------------------------------------------------------------------
// What each provider says (see tests/rig/README.md for the source of every line)
// ---------------------------------------------------------------------------------------------

const personalities = {
  [GMAIL]: {
    greeting: () => `+OK Gpop ready for requests from 127.0.0.1 ${randomBytes(8).toString("hex")}`,
    capaBefore: ["USER", "RESP-CODES", "EXPIRE 0", "LOGIN-DELAY 300", "TOP", "UIDL", "X-GOOGLE-RICO", "SASL PLAIN XOAUTH2"],
    capaAfter: ["USER", "RESP-CODES", "PIPELINING", "EXPIRE 0", "LOGIN-DELAY 300", "TOP", "UIDL", "X-GOOGLE-RICO"],
    capaHeader: "+OK Capability list follows",
    welcome: "+OK Welcome.",
    badPassword: "-ERR [AUTH] Username and password not accepted.",
    badToken: "-ERR [AUTH] Invalid credentials",
    inUse: "-ERR [IN-USE] Mailbox in use. Please try again later.",
    // Gmail answers a refused XOAUTH2 token with a continuation carrying a JSON status, then -ERR after the client's
    // empty response (SASL, RFC 4422 §3.6 / Google's XOAUTH2 protocol page).
    errorChallenge: true,
    oneLineAuth: true,
    basicAuth: true,
    downloadOnce: true,
  },
  [EXCHANGE]: {
    greeting: () => `+OK The Microsoft Exchange POP3 service is ready. [${Buffer.from("PERSONALITY.EXCHANGE.TEST", "utf16le").toString("base64")}]`,
    capaBefore: ["TOP", "UIDL", "SASL PLAIN XOAUTH2", "USER"],
    capaAfter: ["TOP", "UIDL", "SASL PLAIN XOAUTH2", "USER"],
    capaHeader: "+OK",
    welcome: "+OK User successfully logged on.",
    // Basic authentication is off in Exchange Online: every USER/PASS or AUTH PLAIN gets this line.
    badPassword: "-ERR Logon failure: unknown user name or bad password.",
    badToken: "-ERR Authentication failure: unknown user name or bad password.",
    inUse: "-ERR [IN-USE] Mailbox in use. Please try again later.",
    errorChallenge: false,
    oneLineAuth: false, // AUTH XOAUTH2 <initial response> on one line → protocol error, connection closed
    basicAuth: false,
    downloadOnce: false,
  },
};

// ---------------------------------------------------------------------------------------------
// One POP3 session
// ---------------------------------------------------------------------------------------------

function session(personality, socket) {
  const p = personalities[personality];
  let state = "auth"; // auth → transaction → (update on QUIT)
  let user = null; // USER argument
  let box = null; // the authenticated mailbox
  let view = []; // messages visible in this session, in order
  const retrieved = new Set();
  const marked = new Set();
  let sasl = null; // { mech, stage }
  let buffer = "";
  let closed = false;

  const send = (line) => {
    if (!closed) socket.write(line + "\r\n");
  };
  const close = () => {
    if (!closed) {
      closed = true;
      socket.end();
    }
  };
  const release = () => {
    if (box) locks[personality].delete(box.key);
  };
  socket.on("close", () => {
    closed = true;
    if (box && state === "transaction") {
      box.stats.droppedSessions++;
      log({ personality, event: "dropped", user: box.key, retrieved: retrieved.size });
    }
    release();
  });
  socket.on("error", () => {});

  const login = (name, check) => {
    const target = mailbox(personality, name.replace(/^recent:/i, ""));
    if (target?.refusal) {
      target.stats.refusals++;
      return target.refusal;
    }
    if (!target || !check(target)) return null;
    if (locks[personality].has(target.key)) {
      target.stats.refusals++;
      return p.inUse;
    }
    locks[personality].add(target.key);
    box = target;
    box.stats.logins++;
    const recent = /^recent:/i.test(name);
    const monthAgo = Date.now() - 30 * 86400 * 1000;
    // Gmail normal mode lists what was never popped; recent mode the last 30 days, popped or not.
    view = box.messages.filter((m) => !m.deleted && (!p.downloadOnce || (recent ? m.received >= monthAgo : !m.popped)));
    state = "transaction";
    log({ personality, event: "login", user: box.key, recent, visible: view.length });
    return p.welcome;
  };

  const finishSasl = (payload) => {
    const mech = sasl.mech;
    sasl = null;
    let decoded;
    try {
      decoded = Buffer.from(payload, "base64").toString("utf8");
    } catch {
      decoded = "";
    }
    if (mech === "PLAIN") {
      const [, name = "", password = ""] = decoded.split("\0");
      if (!p.basicAuth) return send(p.badPassword);
      const reply = login(name, (b) => b.password !== undefined && b.password === password);
      return send(reply ?? p.badPassword);
    }
    // XOAUTH2: "user=<name>\x01auth=Bearer <token>\x01\x01"
    const fields = Object.fromEntries(decoded.split("\x01").filter(Boolean).map((f) => [f.slice(0, f.indexOf("=")), f.slice(f.indexOf("=") + 1)]));
    const name = fields.user ?? "";
    const token = (fields.auth ?? "").replace(/^Bearer /, "");
    const reply = login(name, (b) => b.token !== undefined && b.token === token);
    if (reply) return send(reply);
    if (p.errorChallenge) {
      const status = { status: "400", schemes: "Bearer", scope: "https://mail.google.com/" };
      sasl = { mech: "XOAUTH2-ERROR" };
      return send("+ " + Buffer.from(JSON.stringify(status)).toString("base64"));
    }
    return send(p.badToken);
  };

  const message = (arg) => {
    const n = Number(arg);
    if (!Number.isInteger(n) || n < 1 || n > view.length) return null;
    return { n, m: view[n - 1] };
  };

  const sendMultiline = (first, body) => {
    let text = first + "\r\n";
    if (body.length > 0) {
      // Dot-stuffing (RFC 1939 §3): lines starting with "." get another.
      const lines = body.toString("latin1").split("\r\n");
      if (lines[lines.length - 1] === "") lines.pop();
      text += lines.map((l) => (l.startsWith(".") ? "." + l : l)).join("\r\n") + "\r\n";
    }
    text += ".\r\n";
    if (!closed) socket.write(Buffer.from(text, "latin1"));
  };

  const command = (line) => {
    if (sasl) {
      if (sasl.mech === "XOAUTH2-ERROR") {
        // Whatever the client answers to the error challenge, the exchange ends with the final reply.
        sasl = null;
        return send(p.badToken);
      }
      if (line === "*") {
        sasl = null;
        return send("-ERR Authentication canceled");
      }
      return finishSasl(line);
    }
    const space = line.indexOf(" ");
    const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    const arg = space < 0 ? "" : line.slice(space + 1);
    const args = arg.split(" ").filter(Boolean);

    if (verb === "CAPA") {
      return sendMultiline(p.capaHeader, Buffer.from((state === "auth" ? p.capaBefore : p.capaAfter).join("\r\n") + "\r\n"));
    }
    if (verb === "QUIT") {
      if (state === "transaction") {
        // UPDATE state (RFC 1939 §6). Gmail also counts every RETR of the session as downloaded.
        for (const m of marked) m.deleted = true;
        if (p.downloadOnce) for (const m of [...retrieved, ...marked]) m.popped = true;
        box.stats.quits++;
        log({ personality, event: "quit", user: box.key, retrieved: retrieved.size, deleted: marked.size });
        state = "update";
      }
      send("+OK Farewell.");
      release();
      return close();
    }
    if (verb === "NOOP") return send("+OK");

    if (state === "auth") {
      if (verb === "USER") {
        user = arg;
        return send("+OK send PASS");
      }
      if (verb === "PASS") {
        if (!p.basicAuth || user === null) return send(p.badPassword);
        const reply = login(user, (b) => b.password !== undefined && b.password === arg);
        return send(reply ?? p.badPassword);
      }
      if (verb === "AUTH") {
        const mech = (args[0] ?? "").toUpperCase();
        if (mech !== "PLAIN" && mech !== "XOAUTH2") return send("-ERR Unrecognized authentication type.");
        sasl = { mech };
        if (args.length > 1) {
          if (!p.oneLineAuth) {
            // Exchange Online wants AUTH XOAUTH2, then the response on its own line.
            sasl = null;
            send("-ERR Protocol error. Connection is closed. 10");
            return close();
          }
          return finishSasl(args[1]);
        }
        return send("+ ");
      }
      return send("-ERR Unknown command.");
    }

    if (state !== "transaction") return send("-ERR Bad state.");
    switch (verb) {
      case "STAT": {
        const live = view.filter((m) => !marked.has(m));
        return send(`+OK ${live.length} ${live.reduce((s, m) => s + m.data.length, 0)}`);
      }
      case "LIST":
      case "UIDL": {
        const field = (m) => (verb === "LIST" ? String(m.data.length) : m.uid);
        if (args.length > 0) {
          const found = message(args[0]);
          if (!found || marked.has(found.m)) return send("-ERR No such message.");
          return send(`+OK ${found.n} ${field(found.m)}`);
        }
        const lines = view.map((m, i) => (marked.has(m) ? null : `${i + 1} ${field(m)}`)).filter(Boolean);
        return sendMultiline("+OK", Buffer.from(lines.length ? lines.join("\r\n") + "\r\n" : ""));
      }
      case "RETR":
      case "TOP": {
        const found = message(args[0]);
        if (!found || marked.has(found.m)) return send("-ERR No such message.");
        let body = found.m.data;
        if (verb === "TOP") {
          const end = body.indexOf("\r\n\r\n");
          body = end < 0 ? body : body.subarray(0, end + 4);
        } else {
          retrieved.add(found.m);
          box.stats.retrieved++;
        }
        return sendMultiline(`+OK ${body.length} octets`, body);
      }
      case "DELE": {
        const found = message(args[0]);
        if (!found || marked.has(found.m)) return send("-ERR No such message.");
        marked.add(found.m);
        return send("+OK Marked to be deleted.");
      }
      case "RSET":
        marked.clear();
        return send("+OK");
      default:
        return send("-ERR Unknown command.");
    }
  };

  send(p.greeting());
  socket.on("data", (chunk) => {
    buffer += chunk.toString("latin1");
    if (buffer.length > 64 * 1024) {
      send("-ERR Line too long.");
      return close();
    }
    let end;
    while (!closed && (end = buffer.indexOf("\r\n")) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      command(line);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Listeners and admin
// ---------------------------------------------------------------------------------------------

const tls = { cert: readFileSync(process.env.RIG_TLS_CERT), key: readFileSync(process.env.RIG_TLS_KEY) };
let nextUid = 1;

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(port ?? 0), "127.0.0.1", () => resolve(server.address().port));
  });
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      try {
        resolve(body ? JSON.parse(body) : {});
      } catch (e) {
        reject(e);
      }
    });
  });
}

const admin = createHttpServer(async (req, res) => {
  const reply = (status, value) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };
  try {
    const url = new URL(req.url, "http://127.0.0.1");
    if (req.method === "GET" && url.pathname === "/state") {
      const box = mailbox(url.searchParams.get("personality"), url.searchParams.get("user") ?? "");
      if (!box) return reply(404, { error: "no such user" });
      return reply(200, {
        ...box.stats,
        locked: locks[url.searchParams.get("personality")].has(box.key),
        messages: box.messages.map((m) => ({ uid: m.uid, size: m.data.length, popped: m.popped, deleted: m.deleted })),
      });
    }
    const body = req.method === "POST" ? await readJson(req) : {};
    if (!mailboxes[body.personality]) return reply(400, { error: "personality must be gmail or exchange" });
    const key = String(body.user ?? "").toLowerCase();
    if (url.pathname === "/users") {
      const stats = { logins: 0, quits: 0, retrieved: 0, refusals: 0, droppedSessions: 0 };
      mailboxes[body.personality].set(key, { key, password: body.password, token: body.token, messages: [], refusal: null, stats });
      return reply(200, { ok: true });
    }
    const box = mailbox(body.personality, key);
    if (!box) return reply(404, { error: "no such user" });
    if (url.pathname === "/seed") {
      for (const b64 of body.messages ?? []) {
        // Gmail's UIDLs look like GmailId<hex>; Exchange's like AAQk… — only their opacity matters here.
        const uid = (body.personality === GMAIL ? "GmailId" : "AAQk") + (nextUid++).toString(16).padStart(12, "0");
        box.messages.push({ uid, data: Buffer.from(b64, "base64"), popped: false, deleted: false, received: Date.now() });
      }
      return reply(200, { count: box.messages.length });
    }
    if (url.pathname === "/refusal") {
      box.refusal = body.line ?? null;
      return reply(200, { ok: true });
    }
    return reply(404, { error: "unknown route" });
  } catch (e) {
    return reply(400, { error: String(e.message ?? e) });
  }
});

const ports = {
  gmail: await listen(createTlsServer(tls, (s) => session(GMAIL, s)), process.env.PERSONALITY_GMAIL_PORT),
  exchange: await listen(createTlsServer(tls, (s) => session(EXCHANGE, s)), process.env.PERSONALITY_EXCHANGE_PORT),
  admin: await listen(admin, process.env.PERSONALITY_ADMIN_PORT),
  pid: process.pid,
};
process.on("SIGTERM", () => process.exit(0));
process.stdout.write("READY " + JSON.stringify(ports) + "\n");
