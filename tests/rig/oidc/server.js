// The rig's strict OpenID Connect provider: node-oidc-provider (OpenID Certified), configured as
// strictly as the big providers behave. Nothing here loosens the library's defaults except where a
// comment says so. See tests/rig/README.md ("Strict OIDC provider").
//
// - PKCE (S256) required for every authorization request;
// - offline_access (and so a refresh token) only when the request carries prompt=consent
//   (OpenID Connect Core §11, the library's default);
// - refresh tokens rotate; a rotated one presented again revokes the whole grant;
// - `iss` in every authorization response (RFC 9207), advertised in discovery;
// - each client's token_endpoint_auth_method enforced (client_secret_basic, client_secret_post,
//   private_key_jwt); clients are registered by tests through RFC 7591 dynamic registration;
// - device flow (RFC 8628), revocation (RFC 7009), opaque access tokens with introspection
//   (RFC 7662) for Dovecot, userinfo;
// - devInteractions: login (any login, account id = the login, an e-mail address) and consent
//   pages a browser drives.
//
// Environment: RIG_OIDC_PORT, RIG_OIDC_ISSUER, RIG_TLS_CERT, RIG_TLS_KEY, RIG_PID_FILE,
// RIG_OIDC_STATE_FILE (signing key and cookie keys, kept across restarts),
// RIG_OIDC_DOVECOT_SECRET (the introspection client's secret).
import fs from 'node:fs';
import https from 'node:https';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.RIG_OIDC_PORT);
const issuer = process.env.RIG_OIDC_ISSUER;
const stateFile = process.env.RIG_OIDC_STATE_FILE;
const dovecotSecret = process.env.RIG_OIDC_DOVECOT_SECRET;
if (!port || !issuer || !stateFile || !dovecotSecret) {
  console.error('oidc: RIG_OIDC_PORT, RIG_OIDC_ISSUER, RIG_OIDC_STATE_FILE and RIG_OIDC_DOVECOT_SECRET are required');
  process.exit(2);
}

function loadState() {
  try {
    return JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  } catch {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
    const state = { jwk, cookieKeys: [crypto.randomBytes(32).toString('base64url')] };
    fs.writeFileSync(stateFile, JSON.stringify(state), { mode: 0o600 });
    return state;
  }
}
const state = loadState();

// Per-client settings tests change through the admin API (POST /__rig/config).
const settings = new Map();
const setting = (clientId, name, fallback) => settings.get(clientId)?.[name] ?? fallback;

// Counters per client: token requests by grant type, introspections, revocations.
const stats = new Map();
function count(clientId, path) {
  const entry = stats.get(clientId ?? '-') ?? {};
  stats.set(clientId ?? '-', entry);
  let node = entry;
  for (let i = 0; i < path.length - 1; i++) node = node[path[i]] ??= {};
  node[path.at(-1)] = (node[path.at(-1)] ?? 0) + 1;
}

const account = (id) => ({
  accountId: id,
  async claims() {
    // Account id = the login typed on the login page = the e-mail address = the POP3 user name.
    return { sub: id, email: id, email_verified: true, preferred_username: id, name: id.split('@')[0] };
  },
});

const configuration = {
  clients: [
    {
      // Dovecot introspects with this client; its credentials are in Dovecot's introspection URL.
      client_id: 'dovecot',
      client_secret: dovecotSecret,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  findAccount: async (_ctx, id) => account(id),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'pop3'],
  jwks: { keys: [state.jwk] },
  cookies: { keys: state.cookieKeys },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    // Open registration (loopback only): every test registers the client it needs, with the
    // token_endpoint_auth_method it tests.
    registration: { enabled: true },
  },
  ttl: {
    AccessToken: (ctx, token, client) => setting(client?.clientId, 'accessTokenTtl', 3600),
    AuthorizationCode: 120,
    DeviceCode: 600,
    Grant: 14 * 24 * 3600,
    IdToken: 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!doctype html><html><head><title>oops</title></head><body><h1>oops! something went wrong</h1><pre>${
      Object.entries(out).map(([k, v]) => `${k}: ${String(v).replace(/[<>&]/g, '')}`).join('\n')
    }</pre></body></html>`;
  },
};

const provider = new Provider(issuer, configuration);
// Behind nothing: the provider sees the TLS socket itself.
provider.proxy = false;

provider.on('grant.success', (ctx) => count(ctx.oidc.client?.clientId, ['grants', ctx.oidc.params.grant_type, 'ok']));
provider.on('grant.error', (ctx, err) => count(ctx.oidc.client?.clientId, ['grants', ctx.oidc.params?.grant_type ?? '-', 'errors', err.error ?? 'error']));
provider.on('introspection.error', (ctx, err) => count(ctx.oidc.client?.clientId, ['introspection', 'errors', err.error ?? 'error']));
provider.on('revocation.error', (ctx, err) => count(ctx.oidc.client?.clientId, ['revocations', 'errors', err.error ?? 'error']));
provider.on('refresh_token.consumed', (token) => count(token.clientId, ['refreshTokensConsumed']));
provider.on('grant.revoked', (_ctx, grantId) => count('-', ['grantsRevoked']));

// The grants each account gave, by client (grant id → {accountId, clientId}), so that the admin API can revoke them as
// the person would at a real provider's "apps with access to your account" page.
const grantsByAccount = new Map();
provider.on('grant.saved', (grant) => {
  const byClient = grantsByAccount.get(grant.accountId) ?? new Map();
  grantsByAccount.set(grant.accountId, byClient);
  byClient.set(grant.jti, grant.clientId);
});
// The refresh tokens issued under each grant (grant id → token ids), for a revocation of the refresh tokens alone (the
// library's revokeByGrantId removes every token of the grant, whatever its model, on the memory adapter).
const refreshTokensByGrant = new Map();
provider.on('refresh_token.saved', (token) => {
  const ids = refreshTokensByGrant.get(token.grantId) ?? new Set();
  refreshTokensByGrant.set(token.grantId, ids);
  ids.add(token.jti);
});

// Revokes what the account granted (to one client, or to all): every token issued under each grant (the library's
// revokeByGrantId on each token model, as its own revocation endpoint does) and the grant itself (Grant API). A
// refresh token of a revoked grant then gets invalid_grant at /token, its access tokens introspect inactive.
// refreshTokensOnly: only the refresh tokens, as Entra's "revoke sessions" does: the access tokens stay valid until
// they expire, the next refresh gets invalid_grant.
async function revokeAccountGrants(accountId, clientId, refreshTokensOnly) {
  const byClient = grantsByAccount.get(accountId) ?? new Map();
  let revoked = 0;
  for (const [grantId, grantClient] of byClient) {
    if (clientId && grantClient !== clientId) continue;
    if (refreshTokensOnly) {
      for (const jti of refreshTokensByGrant.get(grantId) ?? []) {
        const token = await provider.RefreshToken.find(jti, { ignoreExpiration: true });
        if (token) await token.destroy();
      }
      refreshTokensByGrant.delete(grantId);
    } else {
      await Promise.all([provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode, provider.DeviceCode]
        .map((model) => model.revokeByGrantId(grantId)));
      const grant = await provider.Grant.find(grantId);
      if (grant) await grant.destroy();
      byClient.delete(grantId);
    }
    count(grantClient, ['grantsRevokedByAccount']);
    revoked += 1;
  }
  return revoked;
}

// One log line per request: method, path (never the query: it can hold a code), status.
provider.use(async (ctx, next) => {
  const started = Date.now();
  await next();
  // oidc-provider emits no event for a successful revocation: count it here.
  if (ctx.method === 'POST' && ctx.path === '/token/revocation' && ctx.status === 200) count(ctx.oidc?.client?.clientId, ['revocations', 'ok']);
  console.log(`${new Date().toISOString()} ${ctx.method} ${ctx.path} ${ctx.status} ${Date.now() - started}ms`);
});

// oidc-provider accepts a client secret in the Authorization header or in the body whichever of
// the two the client registered (it treats them as one "secret" method). Entra, Google and many
// gateways hold a client to the method it registered, so the rig does too: the form body is read
// here (the provider then takes the parsed body) and the method used must be the registered one.
const clientAuthPaths = new Set(['/token', '/token/introspection', '/token/revocation', '/device/auth']);
provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || !clientAuthPaths.has(ctx.path) || !ctx.is('application/x-www-form-urlencoded')) return next();
  const raw = await readText(ctx.req);
  ctx.request.body = raw;
  const form = new URLSearchParams(raw);
  const header = ctx.get('authorization');
  let used;
  let clientId;
  if (/^basic /i.test(header)) {
    used = 'client_secret_basic';
    try {
      clientId = decodeURIComponent(Buffer.from(header.slice(6), 'base64').toString().split(':')[0].replace(/\+/g, '%20'));
    } catch { return next(); }
  } else if (form.has('client_secret')) {
    used = 'client_secret_post';
    clientId = form.get('client_id');
  } else if (form.has('client_assertion')) {
    used = 'jwt';
  }
  if (used && clientId) {
    const client = await provider.Client.find(clientId).catch(() => undefined);
    if (client && client.clientAuthMethod !== used) {
      count(clientId, ['clientAuthRefused', used]);
      ctx.status = 401;
      ctx.type = 'json';
      ctx.body = {
        error: 'invalid_client',
        error_description: `the client registered token_endpoint_auth_method ${client.clientAuthMethod} but authenticated with ${used}`,
      };
      return undefined;
    }
  }
  return next();
});

// Admin API for tests (loopback only, like everything in the rig).
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/__rig/')) return next();
  const route = `${ctx.method} ${ctx.path}`;
  const body = ctx.method === 'POST' ? await readJson(ctx.req) : {};
  const client = ctx.query.client_id;
  ctx.type = 'json';
  switch (route) {
    case 'GET /__rig/health':
      ctx.body = { ok: true, issuer, pid: process.pid };
      return;
    case 'GET /__rig/stats':
      ctx.body = client ? stats.get(client) ?? {} : Object.fromEntries(stats);
      return;
    case 'POST /__rig/revoke-grants':
      if (!body.account_id) { ctx.status = 400; ctx.body = { error: 'account_id is required' }; return; }
      ctx.body = { revoked: await revokeAccountGrants(String(body.account_id), body.client_id ? String(body.client_id) : undefined, body.refresh_tokens_only === true) };
      return;
    case 'POST /__rig/config':
      if (!body.client_id) { ctx.status = 400; ctx.body = { error: 'client_id is required' }; return; }
      settings.set(body.client_id, { ...settings.get(body.client_id), ...body });
      ctx.body = settings.get(body.client_id);
      return;
    default:
      ctx.status = 404;
      ctx.body = { error: `no route ${route}` };
  }
});

function readText(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { text += c; if (text.length > 65536) reject(new Error('body too large')); });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { text += c; });
    req.on('end', () => { try { resolve(text ? JSON.parse(text) : {}); } catch (e) { reject(e); } });
    req.on('error', reject);
  });
}

const server = https.createServer({
  cert: fs.readFileSync(process.env.RIG_TLS_CERT),
  key: fs.readFileSync(process.env.RIG_TLS_KEY),
}, provider.callback());
// Like the big providers' front ends: idle connections stay open a minute (Node's 5 s default
// races clients that reuse a pooled connection).
server.keepAliveTimeout = 65000;
server.headersTimeout = 66000;
server.listen(port, '127.0.0.1', () => {
  if (process.env.RIG_PID_FILE) fs.writeFileSync(process.env.RIG_PID_FILE, String(process.pid));
  console.log(`${new Date().toISOString()} oidc-provider listening on ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
