// The OpenID Provider of the gateway tests, built on the certified `oidc-provider` package.
//
//   node provider.mjs [--port 0] [--host 127.0.0.1] [--issuer URL] [--config cfg.json]
//
// Prints exactly one line `listening <issuer>` on stdout once it accepts requests.
// Everything under /__admin/* is a TEST-ONLY control API (never expose this).
//
// Env fallbacks (used when no --config or to fill gaps):
//   OIDC_PORT, OIDC_HOST, OIDC_ISSUER, OIDC_CONFIG (path)
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URIS (comma sep),
//   OIDC_POST_LOGOUT_REDIRECT_URIS (comma sep), OIDC_ID_TOKEN_ALG (RS256|ES256)
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { interactionPolicy, errors } from 'oidc-provider';

// ---------------------------------------------------------------- options
const { values: argv } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    issuer: { type: 'string' },
    config: { type: 'string' },
  },
});
const env = process.env;
const host = argv.host ?? env.OIDC_HOST ?? '127.0.0.1';
const wantedPort = Number(argv.port ?? env.OIDC_PORT ?? 0);
const cfgPath = argv.config ?? env.OIDC_CONFIG;
const fileCfg = cfgPath ? JSON.parse(fs.readFileSync(cfgPath, 'utf8')) : {};
const csv = (s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

// ---------------------------------------------------------------- mutable harness state
const state = {
  keys: [], // private JWKs, newest first (first key of an alg signs)
  keyGen: 0,
  cookieKeys: [crypto.randomBytes(32).toString('base64url')], // stable across rebuilds
  clients: fileCfg.clients ?? [{
    client_id: env.OIDC_CLIENT_ID ?? 'gateway',
    client_secret: env.OIDC_CLIENT_SECRET ?? 'gateway-secret',
    redirect_uris: csv(env.OIDC_REDIRECT_URIS) ?? ['http://127.0.0.1:8080/callback'],
    post_logout_redirect_uris: csv(env.OIDC_POST_LOGOUT_REDIRECT_URIS) ?? ['http://127.0.0.1:8080/'],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic', // client_secret_post also accepted below
    id_token_signed_response_alg: env.OIDC_ID_TOKEN_ALG ?? 'RS256',
  }],
  // sub -> claims. Special non-claim fields: acr (default acr), amr (default amr),
  // acrs (list of acrs this user may satisfy; omitted = any), deny (bool -> access_denied)
  users: fileCfg.users ?? {
    alice: {
      email: 'alice@example.test', email_verified: true, name: 'Alice', preferred_username: 'alice',
      groups: ['admins', 'users'], amr: ['pwd'],
    },
    bob: {
      email: 'bob@example.test', email_verified: true, name: 'Bob', preferred_username: 'bob',
      groups: ['users'], amr: ['pwd'], acrs: ['urn:example:loa:1'],
    },
  },
  defaultLogin: fileCfg.defaultLogin ?? { sub: 'alice' }, // used when no login_hint / next-login
  nextLogins: [], // one-shot overrides, consumed FIFO by the interaction route
  acrValues: fileCfg.acrValues ?? ['urn:example:loa:1', 'urn:example:loa:2'],
  amrByAcr: fileCfg.amrByAcr ?? { 'urn:example:loa:2': ['pwd', 'otp', 'mfa'] },
  // resource indicator -> { scope, alg, ttl, audience }
  resources: fileCfg.resources ?? {
    'https://api.example.test': { scope: 'api:read api:write', alg: 'RS256', ttl: 600 },
  },
  allowAnyResource: fileCfg.allowAnyResource ?? true, // unknown absolute URI -> JWT AT, scope = requested
  defaultResource: fileCfg.defaultResource ?? null, // used when a request has no `resource`
  accessTokenUserClaims: fileCfg.accessTokenUserClaims ?? ['groups', 'email'], // copied into user JWT ATs
  extraScopes: fileCfg.extraScopes ?? {}, // scope -> [claims], merged into the claims config
  // oidc-provider only emits auth_time/acr/amr when requested (max_age, acr_values, claims param,
  // require_auth_time). Real IdPs (Keycloak, Entra, Okta) always send them; mimic that by default.
  alwaysAuthClaims: fileCfg.alwaysAuthClaims ?? true,
  ttl: fileCfg.ttl ?? {},
};

// ---------------------------------------------------------------- keys
function genKey(alg) {
  let kp;
  if (alg === 'RS256') kp = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  else if (alg === 'ES256') kp = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  else throw new Error(`unsupported alg ${alg}`);
  const jwk = kp.privateKey.export({ format: 'jwk' });
  state.keyGen += 1;
  return {
    ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${state.keyGen}-${crypto.randomBytes(4).toString('hex')}`,
  };
}
state.keys = (fileCfg.jwks?.keys) ?? [genKey('RS256'), genKey('ES256')];

// ---------------------------------------------------------------- storage
// One process-wide in-memory adapter. (oidc-provider 9's built-in MemoryAdapter gives every
// Provider instance its own store, which would drop sessions when we rebuild for key rotation.)
const store = new Map(); // `${model}:${id}` -> { payload, exp }
const idx = new Map(); // `grant:${grantId}` -> keys; `${model}:uid:${uid}` | `${model}:userCode:${c}` -> id
const live = (key) => {
  const e = store.get(key);
  if (!e) return undefined;
  if (e.exp && e.exp < Date.now()) { store.delete(key); return undefined; }
  return e.payload;
};
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode']); // what revokeByGrantId may delete
class SharedMemoryAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, { payload, exp: expiresIn ? Date.now() + (expiresIn + 15) * 1000 : 0 });
    if (payload.grantId && GRANTABLE.has(this.model)) {
      const g = `grant:${payload.grantId}`;
      if (!idx.has(g)) idx.set(g, new Set());
      idx.get(g).add(key);
    }
    if (payload.uid) idx.set(`${this.model}:uid:${payload.uid}`, id);
    if (payload.userCode) idx.set(`${this.model}:userCode:${payload.userCode}`, id);
  }

  async find(id) { return live(this.key(id)); }

  async findByUid(uid) { const id = idx.get(`${this.model}:uid:${uid}`); return id ? this.find(id) : undefined; }

  async findByUserCode(code) { const id = idx.get(`${this.model}:userCode:${code}`); return id ? this.find(id) : undefined; }

  async consume(id) { const p = live(this.key(id)); if (p) p.consumed = Math.floor(Date.now() / 1000); }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const key of idx.get(`grant:${grantId}`) ?? []) store.delete(key);
    idx.delete(`grant:${grantId}`);
  }
}

// ---------------------------------------------------------------- provider factory
const issuerRef = { value: undefined };

function userFor(sub) {
  return state.users[sub] ?? { email: `${sub}@example.test`, email_verified: true };
}

function publicClaims(sub) {
  const {
    acr, amr, acrs, deny, ...claims
  } = userFor(sub);
  return { sub, ...claims };
}

// state.acrValues is ordered weakest -> strongest; a stronger session acr satisfies a weaker request.
// Unknown acr strings only match exactly.
function acrSatisfies(have, wanted) {
  if (wanted.includes(have)) return true;
  const rank = state.acrValues.indexOf(have);
  if (rank === -1) return false;
  return wanted.some((w) => { const r = state.acrValues.indexOf(w); return r !== -1 && r <= rank; });
}

function buildPolicy() {
  const { Check, base } = interactionPolicy;
  const policy = base();
  // Step-up: if acr_values are requested and the current session's acr is not one of them,
  // require a fresh login (like Keycloak / Entra do). Not part of the default policy because
  // non-essential acr_values are only a "voluntary" request per OIDC Core.
  policy.get('login').checks.add(new Check('acr_step_up', 'requested ACR not satisfied by current session', (ctx) => {
    const { oidc } = ctx;
    if (!oidc.params.acr_values || !oidc.session.accountId) return Check.NO_NEED_TO_PROMPT;
    if (oidc.result?.login) return Check.NO_NEED_TO_PROMPT; // just logged in
    return acrSatisfies(oidc.session.acr, oidc.params.acr_values.split(' '))
      ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }));
  return policy;
}

function resourceInfo(ctx, indicator) {
  const r = state.resources[indicator];
  if (!r && !state.allowAnyResource) throw new errors.InvalidTarget();
  const statics = new Set(['openid', 'offline_access', 'email', 'profile', 'groups', ...Object.keys(state.extraScopes)]);
  const scope = r?.scope
    ?? (ctx.oidc.params.scope ?? '').split(' ').filter((s) => s && !statics.has(s)).join(' ');
  return {
    scope,
    audience: r?.audience ?? indicator,
    accessTokenTTL: r?.ttl ?? 600,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: r?.alg ?? 'RS256' } },
  };
}

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    adapter: SharedMemoryAdapter,
    clients: state.clients,
    jwks: { keys: state.keys },
    cookies: {
      keys: state.cookieKeys,
      // prefixed so they never collide with a gateway on the same host (cookies ignore ports)
      names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' },
    },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    claims: {
      openid: state.alwaysAuthClaims ? ['sub', 'auth_time', 'acr', 'amr'] : ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'given_name', 'family_name'],
      groups: ['groups'],
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      iss: null,
      ...state.extraScopes,
    },
    acrValues: state.acrValues,
    // put scope-requested claims in the ID token too (default only puts them in userinfo for code flow)
    conformIdTokenClaims: false,
    pkce: { required: () => true }, // S256 only (plain is not supported by oidc-provider >= 7)
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // auto-confirm form; a plain HTTP client just scrapes `xsrf` and POSTs it with logout=yes
        logoutSource: async (ctx, form) => {
          ctx.type = 'html';
          ctx.body = `<!DOCTYPE html><html><body>${form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>')}`
            + '<script>document.forms[0].submit()</script></body></html>';
        },
        postLogoutSuccessSource: async (ctx) => { ctx.type = 'text'; ctx.body = 'logged out'; },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, client, oneOf) => oneOf ?? state.defaultResource ?? undefined,
        useGrantedResource: async () => true, // code flow: `resource` from /auth is reused at /token
        getResourceServerInfo: async (ctx, indicator) => resourceInfo(ctx, indicator),
      },
    },
    interactions: {
      policy: buildPolicy(),
      url: async (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    // auto-consent: grant everything requested (first-party client behaviour)
    loadExistingGrant: async (ctx) => {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (grant && grant.accountId !== oidc.account.accountId) grant = undefined;
      grant ??= new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.account.accountId });
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
      if (oidc.requestParamClaims?.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
      for (const [indicator, rs] of Object.entries(oidc.resourceServers)) {
        if (rs.scope) grant.addResourceScope(indicator, rs.scope);
      }
      await grant.save();
      return grant;
    },
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => publicClaims(sub),
    }),
    extraTokenClaims: async (ctx, token) => {
      if (!token.accountId || token.kind !== 'AccessToken') return undefined;
      const claims = publicClaims(token.accountId);
      const extra = Object.fromEntries(state.accessTokenUserClaims.filter((c) => c in claims).map((c) => [c, claims[c]]));
      // RFC 9068 2.2.1: the authentication's time, class and methods, as Okta puts them in access tokens.
      const grant = ctx.oidc?.entities?.AuthorizationCode ?? ctx.oidc?.entities?.RefreshToken;
      if (grant?.authTime) extra.auth_time = grant.authTime;
      if (grant?.acr) extra.acr = grant.acr;
      if (grant?.amr) extra.amr = grant.amr;
      return extra;
    },
    renderError: async (ctx, out) => { ctx.type = 'json'; ctx.body = out; },
    ttl: {
      // resource-bound tokens use the resource's ttl (getResourceServerInfo accessTokenTTL)
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 3600,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
      AuthorizationCode: 60, IdToken: 3600,
      Interaction: 600, RefreshToken: 86400, Session: 86400, Grant: 86400,
      ...state.ttl,
    },
  });

  // Custom, non-interactive interaction endpoint: resolves the user and finishes immediately.
  provider.use(async (ctx, next) => {
    const m = /^\/interaction\/([\w-]+)$/.exec(ctx.path);
    if (!m || ctx.method !== 'GET') return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { prompt, params } = details;
    let result;
    if (prompt.name === 'login') {
      const override = state.nextLogins.shift() ?? {};
      const sub = override.sub ?? params.login_hint ?? state.defaultLogin.sub;
      const user = userFor(sub);
      if (override.deny ?? user.deny) {
        result = { error: 'access_denied', error_description: 'login denied by test harness' };
      } else {
        const requested = params.acr_values ? params.acr_values.split(' ') : [];
        const allowed = user.acrs ?? state.acrValues;
        const acr = override.acr
          ?? requested.find((a) => allowed.includes(a))
          ?? state.defaultLogin.acr ?? user.acr ?? allowed[0];
        const amr = override.amr ?? state.amrByAcr[acr] ?? user.amr ?? ['pwd'];
        result = {
          login: {
            accountId: sub, acr, amr, remember: true, ...(override.ts ? { ts: override.ts } : {}),
          },
        };
      }
    } else if (prompt.name === 'consent') {
      // normally unreachable thanks to loadExistingGrant; grant whatever is missing
      const grant = details.grantId ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      const d = prompt.details;
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      for (const [ind, sc] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(ind, sc.join(' '));
      result = { consent: { grantId: await grant.save() } };
    } else {
      result = { error: 'access_denied', error_description: `unsupported prompt ${prompt.name}` };
    }
    ctx.respond = false;
    await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    return undefined;
  });

  if (env.OIDC_DEBUG) {
    for (const ev of ['server_error', 'authorization.error', 'grant.error', 'end_session.error', 'userinfo.error']) {
      provider.on(ev, (ctx, err) => console.error(ev, err));
    }
  }
  return provider;
}

// Provider holds keys/clients immutably, so admin changes rebuild it. State lives in the
// shared adapter and cookie keys are stable, so sessions/codes/grants survive rebuilds.
let current;
let currentHandler;
function rebuild() {
  current = buildProvider(issuerRef.value);
  currentHandler = current.callback();
}

// ---------------------------------------------------------------- admin API (test only)
async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const s = Buffer.concat(chunks).toString('utf8');
  return s ? JSON.parse(s) : {};
}
function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
const pubKey = ({ kid, alg, kty }) => ({ kid, alg, kty });

async function admin(req, res, path) {
  const body = ['POST', 'PUT', 'PATCH'].includes(req.method) ? await readJson(req) : {};
  let m;
  if (req.method === 'GET' && path === '/state') {
    return send(res, 200, {
      issuer: issuerRef.value, keys: state.keys.map(pubKey), users: state.users, defaultLogin: state.defaultLogin,
      nextLogins: state.nextLogins, clients: state.clients.map((c) => c.client_id), resources: state.resources,
    });
  }
  if (req.method === 'POST' && path === '/rotate-keys') {
    // body: { algs?: ['RS256','ES256'], retire_old?: false }
    const algs = body.algs ?? ['RS256', 'ES256'];
    const added = algs.map(genKey);
    if (body.retire_old) state.keys = state.keys.filter((k) => !algs.includes(k.alg));
    state.keys = [...added, ...state.keys];
    rebuild();
    return send(res, 200, { added: added.map(pubKey), keys: state.keys.map(pubKey) });
  }
  if (req.method === 'POST' && path === '/retire-keys') { // body: { kids: [...] }
    state.keys = state.keys.filter((k) => !body.kids.includes(k.kid));
    rebuild();
    return send(res, 200, { keys: state.keys.map(pubKey) });
  }
  if ((m = /^\/users\/([^/]+)$/.exec(path))) {
    const sub = decodeURIComponent(m[1]);
    if (req.method === 'PUT') state.users[sub] = body;
    else if (req.method === 'PATCH') state.users[sub] = { ...userFor(sub), ...body };
    else if (req.method === 'DELETE') delete state.users[sub];
    return send(res, 200, { sub, user: state.users[sub] ?? null });
  }
  if (req.method === 'PUT' && path === '/default-login') { // { sub, acr? }
    state.defaultLogin = body;
    return send(res, 200, state.defaultLogin);
  }
  if (req.method === 'POST' && path === '/next-login') { // { sub?, acr?, amr?, deny?, ts? } one-shot
    state.nextLogins.push(body);
    return send(res, 200, { queued: state.nextLogins.length });
  }
  if ((m = /^\/clients\/([^/]+)$/.exec(path)) && req.method === 'PUT') {
    const id = decodeURIComponent(m[1]);
    state.clients = [...state.clients.filter((c) => c.client_id !== id), { ...body, client_id: id }];
    rebuild();
    return send(res, 200, { clients: state.clients.map((c) => c.client_id) });
  }
  if ((m = /^\/resources$/.exec(path)) && req.method === 'PUT') { // { "<indicator>": {scope, alg, ttl, audience} }
    Object.assign(state.resources, body);
    return send(res, 200, state.resources);
  }
  return send(res, 404, { error: 'unknown admin route' });
}

// ---------------------------------------------------------------- server
const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if (url.startsWith('/__admin/')) {
    admin(req, res, url.slice('/__admin'.length).split('?')[0]).catch((err) => send(res, 500, { error: String(err?.stack ?? err) }));
    return;
  }
  if (!currentHandler) { res.writeHead(503); res.end(); return; }
  currentHandler(req, res);
});

server.listen(wantedPort, host, () => {
  const { port } = server.address();
  issuerRef.value = argv.issuer ?? env.OIDC_ISSUER ?? `http://${host}:${port}`;
  rebuild();
  process.stdout.write(`listening ${issuerRef.value}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
