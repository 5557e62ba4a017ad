// A real OpenID Provider for the tests (npm: oidc-provider 9), on loopback, in memory: the
// portal's OpenID Connect sign-in is tested against it end to end, never against a mock.
// Started by tests/support/oidc.py. Environment:
//   PORT            where it listens on 127.0.0.1 (its issuer is http://127.0.0.1:PORT)
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (space-separated): the one client, the portal
//   USERS           JSON {username: {password, email, email_verified, name}}; default: alice
// It prints "ready <issuer>" on stdout once it listens.
import http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 4010);
const ISSUER = `http://127.0.0.1:${PORT}`;
const USERS = JSON.parse(process.env.USERS || JSON.stringify({
  alice: { password: 'wonderland', email: 'alice@example.test', email_verified: true, name: 'Alice Test' },
}));
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: process.env.CLIENT_ID || 'fabriek-test',
    client_secret: process.env.CLIENT_SECRET || 'fabriek-test-secret',
    redirect_uris: (process.env.REDIRECT_URIS || 'http://127.0.0.1:8000/auth/oidc/callback').split(/\s+/),
  }],
  jwks: { keys: [{ ...signingKey, kid: 'test-key', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(24).toString('hex')] },
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (ctx, id) => USERS[id] && {
    accountId: id,
    claims: () => {
      const u = USERS[id];
      const claims = { sub: id, name: u.name || id };
      if (u.email) Object.assign(claims, { email: u.email, email_verified: Boolean(u.email_verified) });
      return claims;
    },
  },
  // First-party client: no consent screen; grant what the portal asks for.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const form = (msg = '') => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Test identity provider</title></head><body><main><h1>Test identity provider</h1>
${msg ? `<p role="alert">${escape(msg)}</p>` : ''}<form method="post">
<label for="username">User</label> <input id="username" name="username" autocomplete="username">
<label for="password">Password</label> <input id="password" name="password" type="password">
<button type="submit">Sign in</button></form></main></body></html>`;

const oidc = provider.callback();
http.createServer(async (req, res) => {
  if (!/^\/interaction\/[\w-]+$/.test(req.url)) return oidc(req, res);
  try {
    await provider.interactionDetails(req, res); // 4xx without a valid interaction cookie
    res.setHeader('content-type', 'text/html; charset=utf-8');
    if (req.method === 'GET') return res.end(form());
    let body = '';
    for await (const chunk of req) body += chunk;
    const p = new URLSearchParams(body);
    const user = p.get('username');
    if (!Object.hasOwn(USERS, user) || USERS[user].password !== p.get('password')) {
      res.statusCode = 401;
      return res.end(form('Wrong user or password'));
    }
    await provider.interactionFinished(req, res, { login: { accountId: user } },
      { mergeWithLastSubmission: false });
  } catch (e) {
    res.statusCode = e.statusCode || 500;
    res.end(String(e));
  }
}).listen(PORT, '127.0.0.1', () => console.log(`ready ${ISSUER}`));
