// The rig's OAuth2/OIDC server: oauth2-mock-server 9.3.0 with the gaps a real test needs filled.
//
// Division of labour
// - The library keeps what it does well: the signing keystore and JWT format (RS256, `typ: JWT`,
//   `kid`, iss/iat/nbf/exp), discovery, JWKS, /authorize (immediate redirect with a code, no UI),
//   /userinfo and /endsession. We adjust those through its event hooks.
// - The rig owns /token, /introspect, /revoke, /device_authorization, /device and /__rig/*.
//   The library's /token cannot refuse anything from a hook (its hooks are synchronous and fire
//   after it has decided to issue), knows no client secrets, device codes or refresh-token state;
//   its /introspect says "active" to everything and its /revoke forgets nothing. Routes cannot be
//   replaced through `addRoute` (duplicates throw), so a small router in front of the library's
//   request handler answers the rig's paths and hands every other request to the library.
// - All state lives in memory; a restart of this process forgets every token it issued, so they
//   all introspect as inactive afterwards.
//
// Configuration comes from the environment (set by tests/rig/up.sh):
//   RIG_OAUTH_PORT, RIG_OAUTH_ISSUER, RIG_TLS_CERT, RIG_TLS_KEY, RIG_PID_FILE, RIG_CLIENTS_FILE,
//   RIG_SIGNING_KEY_FILE (private JWK kept between restarts), and the client secrets named by
//   `client_secret_env` in clients.json.
//
// Logging: one line per request to stdout (up.sh sends it to the log file). Token values, codes,
// secrets and query strings are never logged; user names and client ids are.

import { createServer } from "node:https";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash, createPublicKey, randomBytes, randomUUID, timingSafeEqual, verify as verifySignature } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Events, OAuth2Issuer, OAuth2Service } from "oauth2-mock-server";

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`environment variable ${name} is required (start the server through tests/rig/up.sh)`);
  }
  return value;
}

const PORT = Number(process.env.RIG_OAUTH_PORT ?? "18443");
// The library would derive "https://localhost:PORT" from a 127.x bind address; clients and Dovecot
// use the IP literal (nothing listens on ::1), so the issuer is pinned explicitly.
const ISSUER = process.env.RIG_OAUTH_ISSUER ?? `https://127.0.0.1:${PORT}`;
const TLS_CERT = requiredEnv("RIG_TLS_CERT");
const TLS_KEY = requiredEnv("RIG_TLS_KEY");
const PID_FILE = process.env.RIG_PID_FILE;
const KEY_FILE = process.env.RIG_SIGNING_KEY_FILE;
const CLIENTS_FILE = process.env.RIG_CLIENTS_FILE ?? new URL("./clients.json", import.meta.url).pathname;

// Knobs tests may change at run time through POST /__rig/config, globally or per client_id.
const DEFAULT_CONFIG = Object.freeze({
  // Refresh: when on, every refresh answers a new refresh token and the presented one dies.
  rotateRefreshTokens: false,
  // A rotated-out refresh token presented again revokes its whole grant (OAuth 2.0 Security BCP).
  revokeGrantOnRefreshTokenReuse: true,
  // Google-like: a refresh answer without refresh_token (only meaningful without rotation).
  omitRefreshTokenOnRefresh: false,
  // Microsoft-like: issue a refresh token only when the scope contains offline_access.
  requireOfflineAccess: false,
  accessTokenTtl: 3600,
  // 0: refresh tokens never expire.
  refreshTokenTtl: 0,
  codeTtl: 120,
  deviceCodeTtl: 600,
  deviceInterval: 1,
  // RFC 8628 §3.5 says +5 s per slow_down; tests may lower it.
  deviceSlowDownSeconds: 5,
  // The user an /authorize without login_hint signs in as.
  defaultUser: "rig-user@rig.test",
  // When set (e.g. "access_denied"), /authorize redirects back with this error instead of a code.
  authorizeError: null,
  // Failure injection on POST /token: "none" | "<HTTP status>" | "<OAuth error code>" |
  // "delay:<ms>" (then answers normally) | "drop" (closes the connection unanswered).
  failToken: "none",
  // Number of /token requests the failure applies to before it switches itself off (null: all).
  failTokenCount: null,
  // Grant types the failure applies to (null: all).
  failTokenGrants: null,
  // Failure injection on POST /introspect (what Dovecot sees): "none" | "<HTTP status>" |
  // "delay:<ms>" | "inactive" | "drop". Scoped per client through the token's client_id.
  failIntrospection: "none",
  failIntrospectionCount: null,
});

const CONFIG_TYPES = {
  rotateRefreshTokens: "boolean",
  revokeGrantOnRefreshTokenReuse: "boolean",
  omitRefreshTokenOnRefresh: "boolean",
  requireOfflineAccess: "boolean",
  accessTokenTtl: "integer",
  refreshTokenTtl: "integer",
  codeTtl: "integer",
  deviceCodeTtl: "integer",
  deviceInterval: "integer",
  deviceSlowDownSeconds: "integer",
  defaultUser: "string",
  authorizeError: "string?",
  failToken: "tokenFailure",
  failTokenCount: "integer?",
  failTokenGrants: "strings?",
  failIntrospection: "introspectionFailure",
  failIntrospectionCount: "integer?",
};

// ---------------------------------------------------------------------------------------------
// State (all in memory; POST /__rig/reset clears it)
// ---------------------------------------------------------------------------------------------

const state = {
  clients: new Map(), // client_id -> client
  config: { ...DEFAULT_CONFIG },
  clientConfig: new Map(), // client_id -> partial config overriding `config`
  codes: new Map(), // authorization code -> binding recorded at /authorize
  grants: new Map(), // grant id -> { clientId, user, scope, revoked }
  accessTokens: new Map(), // jti -> { clientId, user, grantId, exp, revoked }
  refreshTokens: new Map(), // opaque token -> { clientId, user, scope, grantId, status, expiresAt }
  devices: new Map(), // device_code -> pending device authorization
  stats: newStats(),
};

// Counters are keyed by request data (paths, client ids, grant types), so their containers have no
// prototype: a key such as "__proto__" is then just a key.
function dict(init = {}) {
  return Object.assign(Object.create(null), init);
}

function newStats() {
  return {
    since: new Date().toISOString(),
    endpoints: dict(),
    grants: dict(),
    introspection: dict({ active: 0, inactive: 0, injected: 0 }),
    revocation: { requests: 0, revoked: 0 },
    clients: dict(),
  };
}

function bump(obj, ...path) {
  let node = obj;
  for (const key of path.slice(0, -1)) {
    node = node[key] ??= dict();
  }
  const last = path.at(-1);
  node[last] = (node[last] ?? 0) + 1;
}

function countGrant(clientId, grantType, outcome) {
  for (const scope of [state.stats, (state.stats.clients[clientId ?? "(none)"] ??= dict())]) {
    bump(scope, "grants", grantType ?? "(none)", "requests");
    if (outcome === "ok") bump(scope, "grants", grantType ?? "(none)", "ok");
    else bump(scope, "grants", grantType ?? "(none)", "errors", outcome);
  }
}

function loadClients() {
  const file = JSON.parse(readFileSync(CLIENTS_FILE, "utf8"));
  for (const c of file.clients) {
    registerClient({
      client_id: c.client_id,
      client_secret: c.client_secret_env ? requiredEnv(c.client_secret_env) : undefined,
      redirect_uris: c.redirect_uris,
      grant_types: c.grant_types,
      scope: c.scope,
      app_email: c.app_email,
      static: true,
    });
  }
}

function registerClient(c) {
  if (typeof c.client_id !== "string" || c.client_id === "") throw new BadRequest("client_id is required");
  const client = {
    id: c.client_id,
    secret: c.client_secret || undefined,
    redirectUris: (c.redirect_uris ?? []).map(String),
    grantTypes: c.grant_types ?? ["authorization_code", "refresh_token", "password", "client_credentials", DEVICE_GRANT],
    scope: c.scope ?? "openid email offline_access",
    appEmail: c.app_email ?? undefined,
    static: Boolean(c.static),
  };
  client.redirectPatterns = client.redirectUris.map(globToRegExp);
  state.clients.set(client.id, client);
  return client;
}

function publicClient(client) {
  return {
    client_id: client.id,
    client_secret: client.secret ?? null,
    confidential: client.secret !== undefined,
    redirect_uris: client.redirectUris,
    grant_types: client.grantTypes,
    scope: client.scope,
    app_email: client.appEmail ?? null,
  };
}

function effectiveConfig(clientId) {
  const overrides = clientId ? state.clientConfig.get(clientId) : undefined;
  return overrides ? { ...state.config, ...overrides } : state.config;
}

// ---------------------------------------------------------------------------------------------
// Errors and HTTP helpers
// ---------------------------------------------------------------------------------------------

/** An RFC 6749 §5.2 error answer. */
class OAuthError extends Error {
  constructor(error, description, status = 400, headers = {}) {
    super(description ?? error);
    this.error = error;
    this.description = description;
    this.status = status;
    this.headers = headers;
  }
}

class BadRequest extends OAuthError {
  constructor(description) {
    super("invalid_request", description, 400);
  }
}

function sendJson(res, status, body, headers = {}) {
  const content = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(content),
    "Cache-Control": "no-store",
    Pragma: "no-cache",
    ...headers,
  });
  res.end(content);
}

function sendOAuthError(res, err) {
  res.rigLog.error = err.error;
  const body = { error: err.error };
  if (err.description) body.error_description = err.description;
  sendJson(res, err.status, body, err.headers);
}

const MAX_BODY = 256 * 1024;

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw new BadRequest("request body too large");
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks).toString("utf8");
  const type = (req.headers["content-type"] ?? "").toLowerCase();
  if (raw.length === 0) return {};
  if (type.includes("application/x-www-form-urlencoded")) {
    const body = {};
    for (const [k, v] of new URLSearchParams(raw)) {
      // RFC 6749 §3.2: parameters must not be repeated.
      if (k in body) throw new BadRequest(`parameter '${k}' is repeated`);
      body[k] = v;
    }
    return body;
  }
  if (type.includes("application/json")) {
    try {
      const parsed = JSON.parse(raw);
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      return parsed;
    } catch {
      throw new BadRequest("malformed JSON body");
    }
  }
  throw new BadRequest("unsupported content type");
}

function requireForm(req) {
  if (!(req.headers["content-type"] ?? "").toLowerCase().includes("application/x-www-form-urlencoded")) {
    throw new BadRequest("the body must be application/x-www-form-urlencoded");
  }
}

function randomToken(bytes = 32) {
  return randomBytes(bytes).toString("base64url");
}

function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

function sameSecret(a, b) {
  // Hash first so lengths never leak through timingSafeEqual's length check.
  const ha = createHash("sha256").update(String(a)).digest();
  const hb = createHash("sha256").update(String(b)).digest();
  return timingSafeEqual(ha, hb);
}

function globToRegExp(pattern) {
  const escaped = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${escaped.join("[^?#]*")}$`);
}

function scopeList(scope) {
  return String(scope ?? "").split(" ").filter(Boolean);
}

function firstString(...values) {
  for (const v of values) {
    if (typeof v === "string" && v.trim() !== "") return v.trim();
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Client authentication (RFC 6749 §2.3): client_secret_basic, client_secret_post, public clients
// ---------------------------------------------------------------------------------------------

function formDecode(s) {
  return decodeURIComponent(s.replace(/\+/g, " "));
}

/** The client id a request claims, before checking any secret (for scoping and logging). */
function claimedClientId(req, body) {
  const basic = parseBasic(req);
  return basic?.id ?? (typeof body.client_id === "string" ? body.client_id : undefined);
}

function parseBasic(req) {
  const header = req.headers.authorization;
  if (!header || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) throw new OAuthError("invalid_client", "malformed Basic credentials", 401, basicChallenge());
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw new OAuthError("invalid_client", "malformed Basic credentials", 401, basicChallenge());
  }
}

function basicChallenge() {
  return { "WWW-Authenticate": 'Basic realm="mailgrpc-rig"' };
}

/**
 * Authenticates the calling client. `optional`: anonymous callers are allowed (introspection by
 * Dovecot), but credentials that are present must be right.
 */
function authenticateClient(req, body, { optional = false } = {}) {
  const basic = parseBasic(req);
  if (basic && (body.client_secret !== undefined)) {
    throw new BadRequest("use one client authentication method only");
  }
  // Dovecot's oauth2 passdb always posts client_id= and client_secret=, empty when unset.
  const id = basic?.id ?? (body.client_id === "" ? undefined : body.client_id);
  const secret = basic?.secret ?? body.client_secret;
  if (id === undefined) {
    if (optional) return undefined;
    throw new OAuthError("invalid_client", "client authentication required", 401, basicChallenge());
  }
  const client = state.clients.get(String(id));
  const challenge = basic ? basicChallenge() : {};
  if (!client) throw new OAuthError("invalid_client", "unknown client", 401, challenge);
  if (client.secret !== undefined) {
    if (secret === undefined || secret === "") throw new OAuthError("invalid_client", "client secret required", 401, challenge);
    if (!sameSecret(secret, client.secret)) throw new OAuthError("invalid_client", "wrong client secret", 401, challenge);
  } else if (secret !== undefined && secret !== "") {
    throw new OAuthError("invalid_client", "public client must not send a secret", 401, challenge);
  }
  return client;
}

function requireGrantAllowed(client, grantType) {
  if (!client.grantTypes.includes(grantType)) {
    throw new OAuthError("unauthorized_client", `client may not use ${grantType}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens: minting through the library's issuer, verification against its keystore
// ---------------------------------------------------------------------------------------------

let issuer;
let publicKeys = new Map(); // kid -> KeyObject

async function mintJwt(expiresIn, claims) {
  // scopesOrTransform as a function is the library's hook to shape the payload before signing.
  return issuer.buildToken({
    expiresIn,
    scopesOrTransform: (_header, payload) => {
      for (const [k, v] of Object.entries(claims)) {
        if (v === null || v === undefined) delete payload[k];
        else payload[k] = v;
      }
    },
  });
}

/** Mints an access token and records it so introspection and revocation can find it. */
async function mintAccessToken({ client, clientId, user, scope, grantId, expiresIn, extraClaims = {} }) {
  const jti = randomUUID();
  const cid = clientId ?? client?.id;
  // Extra claims (admin /__rig/issue) may reshape or remove anything but the jti, which ties the
  // token to its record here.
  const claims = {
    sub: user ?? cid,
    email: user,
    scope,
    client_id: cid,
    ...extraClaims,
    jti,
  };
  const token = await mintJwt(expiresIn, claims);
  state.accessTokens.set(jti, { clientId: cid, user, grantId, exp: nowSeconds() + expiresIn, revoked: false });
  pruneExpired();
  return { token, jti };
}

function mintRefreshToken({ client, user, scope, grantId }) {
  const token = randomToken(32);
  const ttl = effectiveConfig(client.id).refreshTokenTtl;
  state.refreshTokens.set(token, {
    clientId: client.id,
    user,
    scope,
    grantId,
    status: "active",
    expiresAt: ttl > 0 ? Date.now() + ttl * 1000 : undefined,
  });
  return token;
}

function newGrant(client, user, scope) {
  const id = randomUUID();
  state.grants.set(id, { clientId: client.id, user, scope, revoked: false });
  return id;
}

function revokeGrant(grantId) {
  const grant = state.grants.get(grantId);
  if (!grant) return 0;
  let count = grant.revoked ? 0 : 1;
  grant.revoked = true;
  for (const rt of state.refreshTokens.values()) {
    if (rt.grantId === grantId && rt.status !== "revoked") {
      rt.status = "revoked";
      count++;
    }
  }
  return count;
}

let lastPrune = 0;
function pruneExpired() {
  // Keeps long test runs from growing without bound; cheap and rare.
  if (Date.now() - lastPrune < 60_000) return;
  lastPrune = Date.now();
  const cutoff = nowSeconds() - 3600;
  for (const [jti, rec] of state.accessTokens) if (rec.exp < cutoff) state.accessTokens.delete(jti);
  for (const [code, rec] of state.codes) if (rec.expiresAt < Date.now() - 3_600_000) state.codes.delete(code);
  for (const [dc, rec] of state.devices) if (rec.expiresAt < Date.now() - 3_600_000) state.devices.delete(dc);
}

/** Issues the token response for an authenticated user (or an app when `user` is undefined). */
async function issueTokens({ client, grantType, user, scope, grantId, nonce, refreshAllowed }) {
  const cfg = effectiveConfig(client.id);
  const ttl = cfg.accessTokenTtl;
  const { token } = await mintAccessToken({ client, user, scope, grantId, expiresIn: ttl });
  const body = { access_token: token, token_type: "Bearer", expires_in: ttl, scope };
  const scopes = scopeList(scope);
  const offlineOk = !cfg.requireOfflineAccess || scopes.includes("offline_access");
  if (refreshAllowed && offlineOk && client.grantTypes.includes("refresh_token")) {
    body.refresh_token = mintRefreshToken({ client, user, scope, grantId });
  }
  if (user && scopes.includes("openid")) {
    const idClaims = { sub: user, email: user, email_verified: true, aud: client.id, nonce, auth_time: nowSeconds(), scope: null };
    body.id_token = await mintJwt(ttl, idClaims);
  }
  countGrant(client.id, grantType, "ok");
  return body;
}

/** Verifies an access token; returns its claims and record, or the reason it is not active. */
function inspectAccessToken(token, { ignoreExpiry = false } = {}) {
  const parts = String(token).split(".");
  if (parts.length !== 3) return { reason: "malformed" };
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch {
    return { reason: "malformed" };
  }
  // Only what this server issues: RS256 with a known kid. Refusing "none"/HS256 up front also
  // blocks the classic algorithm-confusion forgeries.
  if (header.alg !== "RS256" || header.typ !== "JWT") return { reason: "unexpected_header" };
  const key = publicKeys.get(header.kid);
  if (!key) return { reason: "unknown_kid" };
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], "base64url");
  if (!verifySignature("sha256", signed, key, signature)) return { reason: "bad_signature" };
  const now = nowSeconds();
  if (claims.iss !== ISSUER) return { reason: "wrong_issuer", claims };
  if (!ignoreExpiry && !(typeof claims.exp === "number" && claims.exp > now)) return { reason: "expired", claims };
  if (typeof claims.nbf === "number" && claims.nbf > now + 30) return { reason: "not_yet_valid", claims };
  const record = state.accessTokens.get(claims.jti);
  if (!record) return { reason: "unknown_token", claims };
  if (record.revoked) return { reason: "revoked", claims, record };
  if (record.grantId && state.grants.get(record.grantId)?.revoked) return { reason: "grant_revoked", claims, record };
  return { claims, record };
}

function refreshTokenUsable(rec) {
  if (!rec) return "unknown";
  if (rec.status !== "active") return rec.status;
  if (rec.expiresAt !== undefined && rec.expiresAt <= Date.now()) return "expired";
  if (state.grants.get(rec.grantId)?.revoked) return "revoked";
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Failure injection
// ---------------------------------------------------------------------------------------------

const TOKEN_ERRORS = [
  "invalid_grant",
  "invalid_client",
  "invalid_request",
  "invalid_scope",
  "unauthorized_client",
  "unsupported_grant_type",
  "access_denied",
  "temporarily_unavailable",
  "server_error",
];
const TOKEN_FAILURE = new RegExp(`^(none|drop|[1-5]\\d\\d|delay:\\d{1,6}|${TOKEN_ERRORS.join("|")})$`);
const INTROSPECTION_FAILURE = /^(none|drop|inactive|[1-5]\d\d|delay:\d{1,6})$/;

/**
 * Applies a configured failure. Returns true when the request was answered (or dropped) here.
 * `countKey` names the counter that switches the failure off after N uses.
 */
async function injectFailure(res, clientId, modeKey, countKey) {
  const scoped = clientId && state.clientConfig.get(clientId)?.[modeKey] !== undefined;
  const target = scoped ? state.clientConfig.get(clientId) : state.config;
  const mode = target[modeKey];
  if (!mode || mode === "none") return false;
  if (typeof target[countKey] === "number") {
    if (target[countKey] <= 0) return false;
    target[countKey] -= 1;
    if (target[countKey] === 0) {
      target[modeKey] = "none";
      target[countKey] = null;
    }
  }
  res.rigLog.injected = mode;
  if (mode.startsWith("delay:")) {
    await sleep(Number(mode.slice(6)));
    return false;
  }
  if (mode === "drop") {
    res.socket?.destroy();
    return true;
  }
  if (mode === "inactive") {
    sendJson(res, 200, { active: false });
    return true;
  }
  if (/^\d{3}$/.test(mode)) {
    const status = Number(mode);
    const headers = status === 503 || status === 429 ? { "Retry-After": "1" } : {};
    sendJson(res, status, { error: "temporarily_unavailable", error_description: `injected failure ${status}` }, headers);
    res.rigLog.error = `injected_${status}`;
    return true;
  }
  const status = { invalid_client: 401, server_error: 500, temporarily_unavailable: 503 }[mode] ?? 400;
  sendOAuthError(res, new OAuthError(mode, "injected failure", status));
  return true;
}

// ---------------------------------------------------------------------------------------------
// POST /token
// ---------------------------------------------------------------------------------------------

async function tokenEndpoint(req, res) {
  requireForm(req);
  const body = await readBody(req);
  const grantType = body.grant_type;
  const claimedId = claimedClientId(req, body);
  res.rigLog.grant = grantType;
  res.rigLog.client = claimedId;
  try {
    if (typeof grantType !== "string") throw new BadRequest("grant_type is required");
    const cfg = effectiveConfig(claimedId);
    const failureApplies = !cfg.failTokenGrants || cfg.failTokenGrants.includes(grantType);
    if (failureApplies && (await injectFailure(res, claimedId, "failToken", "failTokenCount"))) {
      countGrant(claimedId, grantType, "injected");
      return;
    }
    const client = authenticateClient(req, body);
    const handler = Object.hasOwn(GRANTS, grantType) ? GRANTS[grantType] : undefined;
    if (!handler) throw new OAuthError("unsupported_grant_type", `unsupported grant_type ${grantType}`);
    requireGrantAllowed(client, grantType);
    const answer = await handler(client, body);
    res.rigLog.user = answer.user;
    sendJson(res, 200, answer.body);
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    countGrant(claimedId, grantType, err.error);
    sendOAuthError(res, err);
  }
}

function requestedScope(client, body) {
  return firstString(body.scope) ?? client.scope;
}

const GRANTS = {
  async authorization_code(client, body) {
    const code = body.code;
    if (typeof code !== "string") throw new BadRequest("code is required");
    const rec = state.codes.get(code);
    if (!rec) throw new OAuthError("invalid_grant", "unknown authorization code");
    if (rec.clientId !== client.id) throw new OAuthError("invalid_grant", "code was issued to another client");
    if (rec.used) {
      // RFC 6749 §4.1.2: a replayed code revokes what it produced.
      if (rec.grantId) revokeGrant(rec.grantId);
      throw new OAuthError("invalid_grant", "authorization code already used");
    }
    // Any redemption attempt by the rightful client burns the code, successful or not.
    rec.used = true;
    if (rec.expiresAt <= Date.now()) throw new OAuthError("invalid_grant", "authorization code expired");
    if (body.redirect_uri !== rec.redirectUri) throw new OAuthError("invalid_grant", "redirect_uri does not match the authorization request");
    checkPkce(rec, body.code_verifier);
    rec.grantId = newGrant(client, rec.user, rec.scope);
    const tokens = await issueTokens({
      client,
      grantType: "authorization_code",
      user: rec.user,
      scope: rec.scope,
      grantId: rec.grantId,
      nonce: rec.nonce,
      refreshAllowed: true,
    });
    return { user: rec.user, body: tokens };
  },

  async password(client, body) {
    const user = firstString(body.username);
    if (!user) throw new BadRequest("username is required");
    if (typeof body.password !== "string" || body.password === "") throw new BadRequest("password is required");
    // The rig accepts any password: it stands in for an identity provider, not a directory.
    const scope = requestedScope(client, body);
    const grantId = newGrant(client, user, scope);
    return { user, body: await issueTokens({ client, grantType: "password", user, scope, grantId, refreshAllowed: true }) };
  },

  async client_credentials(client, body) {
    if (client.secret === undefined) throw new OAuthError("unauthorized_client", "client_credentials needs a confidential client");
    // An app identity has no user; Dovecot logs in the `email` claim, so the mailbox comes from
    // an extra parameter (like a resource-owner hint) or the client's configured app mailbox.
    const user = firstString(body.username, body.login_hint) ?? client.appEmail;
    const scope = requestedScope(client, body);
    return { user, body: await issueTokens({ client, grantType: "client_credentials", user, scope, grantId: undefined, refreshAllowed: false }) };
  },

  async refresh_token(client, body) {
    const presented = body.refresh_token;
    if (typeof presented !== "string") throw new BadRequest("refresh_token is required");
    const rec = state.refreshTokens.get(presented);
    if (rec && rec.clientId !== client.id) throw new OAuthError("invalid_grant", "refresh token was issued to another client");
    const unusable = refreshTokenUsable(rec);
    if (unusable) {
      if (unusable === "rotated" && effectiveConfig(client.id).revokeGrantOnRefreshTokenReuse) revokeGrant(rec.grantId);
      throw new OAuthError("invalid_grant", `refresh token ${unusable}`);
    }
    let scope = rec.scope;
    if (firstString(body.scope)) {
      const granted = new Set(scopeList(rec.scope));
      const asked = scopeList(body.scope);
      if (asked.some((s) => !granted.has(s))) throw new OAuthError("invalid_scope", "scope exceeds the original grant");
      scope = asked.join(" ");
    }
    const cfg = effectiveConfig(client.id);
    const tokens = await issueTokens({ client, grantType: "refresh_token", user: rec.user, scope, grantId: rec.grantId, refreshAllowed: false });
    if (cfg.rotateRefreshTokens) {
      rec.status = "rotated";
      tokens.refresh_token = mintRefreshToken({ client, user: rec.user, scope: rec.scope, grantId: rec.grantId });
    } else if (!cfg.omitRefreshTokenOnRefresh) {
      tokens.refresh_token = presented;
    }
    return { user: rec.user, body: tokens };
  },

  async [DEVICE_GRANT](client, body) {
    const deviceCode = body.device_code;
    if (typeof deviceCode !== "string") throw new BadRequest("device_code is required");
    const rec = state.devices.get(deviceCode);
    if (!rec || rec.clientId !== client.id) throw new OAuthError("invalid_grant", "unknown device_code");
    if (rec.status === "used") throw new OAuthError("invalid_grant", "device_code already used");
    if (rec.expiresAt <= Date.now()) throw new OAuthError("expired_token", "device_code expired");
    if (rec.status === "denied") throw new OAuthError("access_denied", "the user denied the request");
    const now = Date.now();
    const tooSoon = rec.lastPoll !== undefined && now - rec.lastPoll < rec.interval * 1000;
    rec.lastPoll = now;
    if (rec.status === "pending") {
      if (tooSoon) {
        rec.interval += effectiveConfig(client.id).deviceSlowDownSeconds;
        throw new OAuthError("slow_down", `poll at most every ${rec.interval} s`);
      }
      throw new OAuthError("authorization_pending", "the user has not answered yet");
    }
    // Approved: the device code is single-use.
    rec.status = "used";
    const grantId = newGrant(client, rec.user, rec.scope);
    return { user: rec.user, body: await issueTokens({ client, grantType: DEVICE_GRANT, user: rec.user, scope: rec.scope, grantId, refreshAllowed: true }) };
  },
};

function checkPkce(rec, verifier) {
  if (!rec.codeChallenge) {
    // OAuth 2.1: a verifier without a challenge is a downgrade attempt.
    if (verifier !== undefined) throw new OAuthError("invalid_grant", "code_verifier sent but no code_challenge was given");
    return;
  }
  if (typeof verifier !== "string") throw new OAuthError("invalid_grant", "code_verifier required");
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) throw new OAuthError("invalid_grant", "malformed code_verifier");
  const computed = rec.codeChallengeMethod === "S256" ? createHash("sha256").update(verifier).digest("base64url") : verifier;
  if (computed !== rec.codeChallenge) throw new OAuthError("invalid_grant", "code_verifier does not match code_challenge");
}

// ---------------------------------------------------------------------------------------------
// POST /introspect (RFC 7662) and POST /revoke (RFC 7009)
// ---------------------------------------------------------------------------------------------

async function introspectEndpoint(req, res) {
  const body = await readBody(req);
  try {
    const caller = authenticateClient(req, body, { optional: true });
    const token = body.token;
    if (typeof token !== "string" || token === "") throw new BadRequest("token is required");
    const result = inspectAccessToken(token);
    const tokenClient = result.claims?.client_id;
    res.rigLog.client = tokenClient ?? caller?.id;
    if (await injectFailure(res, tokenClient, "failIntrospection", "failIntrospectionCount")) {
      state.stats.introspection.injected++;
      return;
    }
    if (result.reason === undefined) {
      const c = result.claims;
      res.rigLog.user = c.email;
      res.rigLog.result = "active";
      countIntrospection(tokenClient, "active");
      sendJson(res, 200, {
        active: true,
        token_type: "Bearer",
        scope: c.scope,
        client_id: c.client_id,
        username: c.email,
        email: c.email,
        sub: c.sub,
        exp: c.exp,
        iat: c.iat,
        nbf: c.nbf,
        iss: c.iss,
        jti: c.jti,
      });
      return;
    }
    // Refresh tokens are opaque; only the client that owns one may introspect it, so a refresh
    // token presented to Dovecot as an access token is never "active".
    const rt = state.refreshTokens.get(token);
    if (rt && caller && rt.clientId === caller.id && !refreshTokenUsable(rt)) {
      countIntrospection(caller.id, "active");
      res.rigLog.result = "active_refresh";
      sendJson(res, 200, {
        active: true,
        token_type: "refresh_token",
        scope: rt.scope,
        client_id: rt.clientId,
        username: rt.user,
        sub: rt.user,
        exp: rt.expiresAt ? Math.floor(rt.expiresAt / 1000) : undefined,
      });
      return;
    }
    res.rigLog.result = `inactive:${rt ? "refresh_token" : result.reason}`;
    res.rigLog.user = result.claims?.email;
    countIntrospection(tokenClient, "inactive");
    sendJson(res, 200, { active: false });
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    sendOAuthError(res, err);
  }
}

function countIntrospection(clientId, outcome) {
  bump(state.stats, "introspection", outcome);
  bump(state.stats, "clients", clientId ?? "(none)", "introspection", outcome);
}

async function revokeEndpoint(req, res) {
  requireForm(req);
  const body = await readBody(req);
  state.stats.revocation.requests++;
  try {
    const client = authenticateClient(req, body);
    res.rigLog.client = client.id;
    const token = body.token;
    if (typeof token !== "string" || token === "") throw new BadRequest("token is required");
    let revoked = 0;
    const rt = state.refreshTokens.get(token);
    if (rt) {
      if (rt.clientId !== client.id) throw new BadRequest("the token was not issued to this client");
      // RFC 7009 §2.1: revoking a refresh token also ends the access tokens of its grant.
      rt.status = "revoked";
      revoked = 1 + revokeGrant(rt.grantId);
      res.rigLog.result = "refresh_token";
    } else {
      const result = inspectAccessToken(token, { ignoreExpiry: true });
      const rec = result.claims ? state.accessTokens.get(result.claims.jti) : undefined;
      if (rec) {
        if (rec.clientId !== client.id) throw new BadRequest("the token was not issued to this client");
        if (!rec.revoked) revoked = 1;
        rec.revoked = true;
        res.rigLog.result = "access_token";
      } else {
        // Unknown or invalid tokens are answered 200 as well (RFC 7009 §2.2).
        res.rigLog.result = "unknown";
      }
    }
    state.stats.revocation.revoked += revoked;
    res.writeHead(200, { "Cache-Control": "no-store", "Content-Length": 0 });
    res.end();
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    sendOAuthError(res, err);
  }
}

// ---------------------------------------------------------------------------------------------
// Device authorization (RFC 8628)
// ---------------------------------------------------------------------------------------------

const USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"; // RFC 8628 §6.1: no vowels, no look-alikes

function newUserCode() {
  const bytes = randomBytes(8);
  const chars = [...bytes].map((b) => USER_CODE_ALPHABET[b % USER_CODE_ALPHABET.length]);
  return `${chars.slice(0, 4).join("")}-${chars.slice(4).join("")}`;
}

function normalizeUserCode(code) {
  return String(code ?? "").toUpperCase().replace(/[^A-Z]/g, "");
}

function findDeviceByUserCode(userCode) {
  const wanted = normalizeUserCode(userCode);
  for (const rec of state.devices.values()) {
    if (normalizeUserCode(rec.userCode) === wanted) return rec;
  }
  return undefined;
}

async function deviceAuthorizationEndpoint(req, res) {
  requireForm(req);
  const body = await readBody(req);
  try {
    const client = authenticateClient(req, body);
    res.rigLog.client = client.id;
    requireGrantAllowed(client, DEVICE_GRANT);
    const cfg = effectiveConfig(client.id);
    const deviceCode = randomToken(32);
    const userCode = newUserCode();
    state.devices.set(deviceCode, {
      clientId: client.id,
      userCode,
      scope: requestedScope(client, body),
      // A hint lets tests pre-select the user; approval may still name another one.
      user: firstString(body.login_hint, body.username),
      status: "pending",
      interval: cfg.deviceInterval,
      expiresAt: Date.now() + cfg.deviceCodeTtl * 1000,
      lastPoll: undefined,
    });
    const verificationUri = `${ISSUER}/device`;
    sendJson(res, 200, {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: verificationUri,
      verification_uri_complete: `${verificationUri}?user_code=${encodeURIComponent(userCode)}`,
      expires_in: cfg.deviceCodeTtl,
      interval: cfg.deviceInterval,
    });
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    sendOAuthError(res, err);
  }
}

function devicePage(req, res) {
  // There is no interactive login: a test approves with POST /__rig/device/approve.
  const userCode = new URL(req.url, ISSUER).searchParams.get("user_code");
  const rec = userCode ? findDeviceByUserCode(userCode) : undefined;
  const text = rec
    ? `MailGrpc rig: device code ${rec.userCode} is ${rec.status}. Approve it with POST ${ISSUER}/__rig/device/approve.\n`
    : `MailGrpc rig: approve device codes with POST ${ISSUER}/__rig/device/approve {"user_code","username"}.\n`;
  res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
  res.end(text);
}

// ---------------------------------------------------------------------------------------------
// GET /authorize: checks before the library redirects, and the binding the library lacks
// ---------------------------------------------------------------------------------------------

function authorizePrecheck(req, res) {
  const q = new URL(req.url, ISSUER).searchParams;
  const client = state.clients.get(q.get("client_id") ?? "");
  const redirectUri = q.get("redirect_uri");
  res.rigLog.client = client?.id;
  // RFC 6749 §4.1.2.1: with a bad client or redirect URI the server must not redirect.
  let problem;
  if (!client) problem = "unknown client_id";
  else if (!redirectUri) problem = "redirect_uri is required";
  else if (!client.redirectPatterns.some((re) => re.test(redirectUri))) problem = "redirect_uri is not registered for this client";
  else if (!client.grantTypes.includes("authorization_code")) problem = "client may not use authorization_code";
  else if (q.get("code_challenge") && !["S256", "plain", null].includes(q.get("code_challenge_method"))) problem = "unsupported code_challenge_method";
  if (problem) {
    res.rigLog.error = "invalid_request";
    sendJson(res, 400, { error: "invalid_request", error_description: problem });
    return true;
  }
  return false;
}

function onAuthorizeRedirect(redirect, req) {
  const url = redirect.url; // mutated in place: the library redirects to this very object
  const code = url.searchParams.get("code");
  if (!code) return;
  const q = req.query ?? {};
  const client = state.clients.get(q.client_id);
  const cfg = effectiveConfig(client?.id);
  if (cfg.authorizeError) {
    // Simulates the user refusing consent (or any other authorization error).
    url.searchParams.delete("code");
    url.searchParams.set("error", cfg.authorizeError);
    url.searchParams.set("error_description", "injected by the MailGrpc rig");
    return;
  }
  state.codes.set(code, {
    clientId: client.id,
    redirectUri: q.redirect_uri,
    user: firstString(q.login_hint) ?? cfg.defaultUser,
    scope: firstString(q.scope) ?? client.scope,
    nonce: q.nonce,
    codeChallenge: q.code_challenge,
    codeChallengeMethod: q.code_challenge ? (q.code_challenge_method ?? "plain") : undefined,
    expiresAt: Date.now() + cfg.codeTtl * 1000,
    used: false,
  });
}

function onDiscovery(doc) {
  const b = doc.body;
  b.issuer = ISSUER;
  b.device_authorization_endpoint = `${ISSUER}/device_authorization`;
  b.introspection_endpoint = `${ISSUER}/introspect`;
  b.revocation_endpoint = `${ISSUER}/revoke`;
  b.grant_types_supported = ["authorization_code", "refresh_token", "password", "client_credentials", DEVICE_GRANT];
  b.token_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post", "none"];
  b.revocation_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post", "none"];
  b.introspection_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post", "none"];
  b.code_challenge_methods_supported = ["S256", "plain"];
  b.scopes_supported = ["openid", "email", "profile", "offline_access", "pop"];
  b.claims_supported = ["sub", "email", "email_verified", "iss", "aud", "exp", "iat", "nonce"];
}

function onUserinfo(response, req) {
  const header = req.headers.authorization ?? "";
  const token = /^bearer /i.test(header) ? header.slice(7).trim() : "";
  const result = token ? inspectAccessToken(token) : { reason: "missing" };
  if (result.reason) {
    response.statusCode = 401;
    response.body = { error: "invalid_token" };
    return;
  }
  response.body = { sub: result.claims.sub, email: result.claims.email, email_verified: true, preferred_username: result.claims.email };
}

// ---------------------------------------------------------------------------------------------
// Admin API under /__rig/ (JSON in, JSON out). Loopback-only like everything else.
// ---------------------------------------------------------------------------------------------

function validateConfigPatch(patch) {
  const out = {};
  for (const [key, value] of Object.entries(patch)) {
    if (key === "client_id") continue;
    const type = Object.hasOwn(CONFIG_TYPES, key) ? CONFIG_TYPES[key] : undefined;
    if (!type) throw new BadRequest(`unknown config key '${key}'; known: ${Object.keys(CONFIG_TYPES).join(", ")}`);
    const nullable = type.endsWith("?");
    if (value === null && nullable) {
      out[key] = null;
      continue;
    }
    const base = type.replace("?", "");
    const ok =
      (base === "boolean" && typeof value === "boolean") ||
      (base === "integer" && Number.isInteger(value)) ||
      (base === "string" && typeof value === "string") ||
      (base === "strings" && Array.isArray(value) && value.every((v) => typeof v === "string")) ||
      (base === "tokenFailure" && typeof value === "string" && TOKEN_FAILURE.test(value)) ||
      (base === "introspectionFailure" && typeof value === "string" && INTROSPECTION_FAILURE.test(value));
    if (!ok) throw new BadRequest(`config key '${key}' must be ${type}`);
    out[key] = value;
  }
  return out;
}

const admin = {
  "GET /__rig/health": () => ({ ok: true, issuer: ISSUER, pid: process.pid }),

  "GET /__rig/stats": (_body, url) => {
    const clientId = url.searchParams.get("client_id");
    return clientId ? { client_id: clientId, ...(state.stats.clients[clientId] ?? dict()) } : state.stats;
  },

  "POST /__rig/reset": (body) => {
    if (body.client_id) {
      // Only that client's counters and overrides: safe while other tests use the rig.
      delete state.stats.clients[body.client_id];
      state.clientConfig.delete(body.client_id);
      return { reset: body.client_id };
    }
    state.config = { ...DEFAULT_CONFIG };
    state.clientConfig.clear();
    for (const map of [state.codes, state.grants, state.accessTokens, state.refreshTokens, state.devices]) map.clear();
    for (const [id, client] of state.clients) if (!client.static) state.clients.delete(id);
    state.stats = newStats();
    return { reset: "all" };
  },

  "GET /__rig/config": () => ({ config: state.config, clients: Object.fromEntries(state.clientConfig) }),

  "POST /__rig/config": (body) => {
    const patch = validateConfigPatch(body);
    if (body.client_id) {
      if (!state.clients.has(body.client_id)) throw new BadRequest(`unknown client_id '${body.client_id}'`);
      state.clientConfig.set(body.client_id, { ...(state.clientConfig.get(body.client_id) ?? {}), ...patch });
      return { client_id: body.client_id, config: effectiveConfig(body.client_id) };
    }
    state.config = { ...state.config, ...patch };
    return { config: state.config };
  },

  "GET /__rig/clients": () => ({ clients: [...state.clients.values()].map(publicClient) }),

  "POST /__rig/clients": (body) => {
    // A test that needs its own settings registers its own client, so global knobs stay untouched.
    const id = body.client_id ?? `rig-client-${randomToken(6)}`;
    if (state.clients.get(id)?.static) throw new BadRequest(`client '${id}' is built in`);
    const secret = body.public === true ? undefined : (body.client_secret ?? randomToken(24));
    const client = registerClient({
      client_id: id,
      client_secret: secret,
      redirect_uris: body.redirect_uris ?? ["http://127.0.0.1/*", "http://127.0.0.1:*/*", "http://localhost/*", "http://localhost:*/*"],
      grant_types: body.grant_types,
      scope: body.scope,
      app_email: body.app_email,
    });
    if (body.config) state.clientConfig.set(id, validateConfigPatch(body.config));
    return publicClient(client);
  },

  "POST /__rig/issue": async (body) => {
    const user = firstString(body.username, body.user, body.email);
    const clientId = firstString(body.client_id) ?? "mailgrpc-test";
    const client = state.clients.get(clientId);
    if (!client) throw new BadRequest(`unknown client_id '${clientId}'`);
    const expiresIn = body.expires_in ?? effectiveConfig(clientId).accessTokenTtl;
    if (!Number.isInteger(expiresIn)) throw new BadRequest("expires_in must be an integer (may be negative)");
    const scope = firstString(body.scope) ?? client.scope;
    if (body.claims !== undefined && (body.claims === null || typeof body.claims !== "object")) throw new BadRequest("claims must be an object");
    const grantId = body.refresh_token === true ? newGrant(client, user, scope) : undefined;
    const { token, jti } = await mintAccessToken({ client, user, scope, grantId, expiresIn, extraClaims: body.claims ?? {} });
    const answer = { access_token: token, token_type: "Bearer", expires_in: expiresIn, scope, jti, client_id: clientId };
    if (grantId) answer.refresh_token = mintRefreshToken({ client, user, scope, grantId });
    return answer;
  },

  "POST /__rig/revoke-user": (body) => {
    const user = firstString(body.username, body.user, body.email);
    if (!user) throw new BadRequest("username is required");
    const same = (u) => typeof u === "string" && u.toLowerCase() === user.toLowerCase();
    let accessTokens = 0;
    let refreshTokens = 0;
    for (const rec of state.accessTokens.values()) {
      if (same(rec.user) && !rec.revoked) {
        rec.revoked = true;
        accessTokens++;
      }
    }
    for (const rec of state.refreshTokens.values()) {
      if (same(rec.user) && rec.status === "active") {
        rec.status = "revoked";
        refreshTokens++;
      }
    }
    for (const grant of state.grants.values()) if (same(grant.user)) grant.revoked = true;
    return { username: user, access_tokens: accessTokens, refresh_tokens: refreshTokens };
  },

  "GET /__rig/device": () => ({
    pending: [...state.devices.values()]
      .filter((d) => d.status === "pending" && d.expiresAt > Date.now())
      .map((d) => ({ user_code: d.userCode, client_id: d.clientId, scope: d.scope, login_hint: d.user ?? null, expires_at: new Date(d.expiresAt).toISOString() })),
  }),

  "POST /__rig/device/approve": (body) => decideDevice(body, "approved"),
  "POST /__rig/device/deny": (body) => decideDevice(body, "denied"),
};

function decideDevice(body, status) {
  const rec = findDeviceByUserCode(body.user_code);
  if (!rec) throw new OAuthError("not_found", "unknown user_code", 404);
  if (rec.status !== "pending") throw new OAuthError("conflict", `user_code is already ${rec.status}`, 409);
  if (rec.expiresAt <= Date.now()) throw new OAuthError("expired_token", "user_code expired", 410);
  if (status === "approved") {
    const user = firstString(body.username, body.user, body.email) ?? rec.user;
    if (!user) throw new BadRequest("username is required");
    rec.user = user;
    if (firstString(body.scope)) rec.scope = body.scope.trim();
  }
  rec.status = status;
  return { user_code: rec.userCode, status, username: rec.user ?? null };
}

async function adminEndpoint(req, res, url, handler) {
  const body = req.method === "POST" ? await readBody(req) : {};
  try {
    sendJson(res, 200, await handler(body, url));
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    sendOAuthError(res, err);
  }
}

// ---------------------------------------------------------------------------------------------
// Router in front of the library
// ---------------------------------------------------------------------------------------------

const OWNED = {
  "POST /token": tokenEndpoint,
  "POST /introspect": introspectEndpoint,
  "POST /revoke": revokeEndpoint,
  "POST /device_authorization": deviceAuthorizationEndpoint,
  "GET /device": devicePage,
};

function logLine(req, res, started) {
  // Values come from requests (client ids, user names): keep each one a single printable word.
  const fields = Object.entries(res.rigLog)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${String(v).replace(/[^\x21-\x7e]/g, "?").slice(0, 120)}`)
    .join(" ");
  const path = (req.url ?? "/").split("?")[0].replace(/[^\x21-\x7e]/g, "?").slice(0, 200);
  process.stdout.write(`${new Date().toISOString()} ${req.method} ${path} ${res.statusCode} ${Date.now() - started}ms ${fields}\n`);
}

function createRouter(service) {
  const libraryHandler = service.requestHandler;
  return (req, res) => {
    const started = Date.now();
    res.rigLog = {};
    res.on("finish", () => logLine(req, res, started));
    res.on("close", () => {
      if (!res.writableFinished) {
        res.rigLog.aborted = true;
        logLine(req, res, started);
      }
    });
    const url = new URL(req.url ?? "/", ISSUER);
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/$/, "") : url.pathname;
    const key = `${req.method} ${path}`;
    bump(state.stats, "endpoints", key);

    const route = OWNED[key] ?? (admin[key] ? (rq, rs) => adminEndpoint(rq, rs, url, admin[key]) : undefined);
    if (route) {
      Promise.resolve(route(req, res)).catch((err) => {
        if (err instanceof OAuthError) {
          if (!res.headersSent) sendOAuthError(res, err);
          return;
        }
        console.error(`${new Date().toISOString()} error on ${key}:`, err);
        if (!res.headersSent) sendJson(res, 500, { error: "server_error" });
      });
      return;
    }
    if (key === "GET /authorize" && authorizePrecheck(req, res)) return;
    libraryHandler(req, res);
  };
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

async function loadOrCreateSigningKey() {
  // RSA key generation takes from 0.3 s to several seconds on a small VM, so the private JWK is
  // kept in the run dir (mode 0600, never in the repository) and reused by later starts.
  if (KEY_FILE) {
    try {
      await issuer.keys.add(JSON.parse(readFileSync(KEY_FILE, "utf8")));
      return;
    } catch (err) {
      if (err.code !== "ENOENT") console.error(`${new Date().toISOString()} ignoring unreadable ${KEY_FILE}: ${err.message}`);
    }
  }
  const jwk = await issuer.keys.generate("RS256");
  if (KEY_FILE) writeFileSync(KEY_FILE, JSON.stringify(jwk), { mode: 0o600 });
}

async function main() {
  loadClients();

  issuer = new OAuth2Issuer();
  issuer.url = ISSUER;
  await loadOrCreateSigningKey();
  publicKeys = new Map(issuer.keys.toJSON().map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: "jwk" })]));

  const service = new OAuth2Service(issuer);
  service.on(Events.BeforeWellKnownOpenIdConfiguration, onDiscovery);
  service.on(Events.BeforeAuthorizeRedirect, onAuthorizeRedirect);
  service.on(Events.BeforeUserinfo, onUserinfo);

  const server = createServer({ key: readFileSync(TLS_KEY), cert: readFileSync(TLS_CERT) }, createRouter(service));
  // Dovecot keeps introspection connections alive; don't let an idle one pin a closing server.
  server.keepAliveTimeout = 10_000;

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(PORT, "127.0.0.1", resolve);
  });
  if (PID_FILE) writeFileSync(PID_FILE, `${process.pid}\n`);
  console.log(`${new Date().toISOString()} listening issuer=${ISSUER} pid=${process.pid} clients=${[...state.clients.keys()].join(",")}`);

  const stop = (signal) => {
    console.log(`${new Date().toISOString()} ${signal}: stopping`);
    server.close();
    server.closeAllConnections();
    if (PID_FILE) rmSync(PID_FILE, { force: true });
    process.exit(0);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err) => {
  console.error(`${new Date().toISOString()} failed to start:`, err);
  process.exit(1);
});
