// Google sign-in end to end: a real insightd whose GOOGLE_ISSUER is a fake
// OpenID Connect provider (fake_oidc_provider.mjs), the browser's part played
// by hand with fetch (redirect: "manual"), carrying cookies. An address in
// ADMIN_EMAILS ends with an ordinary admin session; every way the answer can be
// wrong (address, signature, nonce, state, expiry, audience, unverified e-mail)
// is refused without a session; the token request really carries the PKCE
// verifier. Without GOOGLE_* the routes are not there.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { call } from "./http.mjs";
import { startFakeOidcProvider } from "./fake_oidc_provider.mjs";
import { startServer, sqliteRows, tempDir, cleanup } from "../ingest/harness.mjs";

const CLIENT_ID = "insightd-test.apps.example.com";
const CLIENT_SECRET = "GOCSPX-test-secret";

// PUBLIC_URL must name insightd's own origin before it starts: pick a free port.
async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

const cookiePair = (setCookie, name) =>
  (setCookie ?? []).map((c) => c.split(";")[0]).find((c) => c.startsWith(`${name}=`));
const setCookieFor = (res, name) => res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));

describe("Google sign-in against a fake OpenID Connect provider", () => {
  let dir;
  let server;
  let provider;
  let publicUrl;

  before(async () => {
    provider = await startFakeOidcProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const port = await freePort();
    publicUrl = `http://127.0.0.1:${port}`;
    dir = tempDir();
    server = await startServer({
      dir,
      env: {
        PORT: String(port),
        PUBLIC_URL: publicUrl,
        GOOGLE_CLIENT_ID: CLIENT_ID,
        GOOGLE_CLIENT_SECRET: CLIENT_SECRET,
        GOOGLE_ISSUER: provider.issuer,
        ADMIN_EMAILS: "Ops@Example.com, lead@example.com",
      },
    });
  });

  after(async () => {
    if (server) await server.stop();
    if (provider) await provider.close();
    cleanup(dir);
  });

  const sessions = () => sqliteRows(join(dir, "data", "insightd.db"), 'SELECT admin_id FROM "AdminSession"');

  // The browser's walk: insightd → provider → back to insightd's callback.
  // `tamper(callbackUrl)` may change the callback before it is followed.
  async function walk({ login, next, tamper = (u) => u, flowCookie = true } = {}) {
    provider.nextLogin = login ?? { email: "ops@example.com" };
    const start = await fetch(`${server.url}/api/auth/google${next === undefined ? "" : `?next=${encodeURIComponent(next)}`}`, {
      redirect: "manual",
    });
    assert.equal(start.status, 302, await start.clone().text());
    const authorize = new URL(start.headers.get("location"));
    const flow = cookiePair(start.headers.getSetCookie(), "insightd_oidc");
    assert.ok(flow, "the flow cookie is set");
    const approved = await fetch(authorize, { redirect: "manual" });
    assert.equal(approved.status, 302);
    const callbackUrl = new URL(tamper(new URL(approved.headers.get("location"))));
    assert.equal(callbackUrl.origin, publicUrl);
    const callback = await fetch(`${server.url}${callbackUrl.pathname}${callbackUrl.search}`, {
      redirect: "manual",
      headers: flowCookie ? { cookie: flow } : {},
    });
    return { start, authorize, flow, callbackUrl, callback, body: await callback.text() };
  }

  async function refusedWithoutSession(result, status, code) {
    assert.equal(result.callback.status, status, result.body);
    assert.match(result.body, new RegExp(`data-code="${code}"`));
    assert.equal(setCookieFor(result.callback, "insightd_session"), undefined, "no session cookie");
    assert.match(setCookieFor(result.callback, "insightd_oidc"), /Max-Age=0/, "the flow cookie is cleared");
  }

  it("says Google sign-in is on", async () => {
    const res = await call(server.url, "/api/auth/providers");
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { password: true, google: true });
  });

  it("sends the browser to the provider with PKCE, state and nonce, keeping them in a Lax cookie", async () => {
    const start = await fetch(`${server.url}/api/auth/google?next=%2Fadmin%2Fanalytics`, { redirect: "manual" });
    assert.equal(start.status, 302);
    const to = new URL(start.headers.get("location"));
    assert.equal(`${to.origin}${to.pathname}`, `${provider.issuer}/authorize`);
    const q = to.searchParams;
    assert.equal(q.get("response_type"), "code");
    assert.equal(q.get("client_id"), CLIENT_ID);
    assert.equal(q.get("redirect_uri"), `${publicUrl}/api/auth/google/callback`);
    assert.equal(q.get("scope"), "openid email");
    assert.equal(q.get("code_challenge_method"), "S256");
    assert.match(q.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.get("state"), /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.get("nonce"), /^[A-Za-z0-9_-]{43}$/);
    const cookie = setCookieFor(start, "insightd_oidc");
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    assert.match(cookie, /Path=\/api\/auth\/google;/);
    assert.match(cookie, /Max-Age=600/);
    assert.equal(start.headers.get("cache-control"), "no-store");
    // The flow cookie holds no secret in clear that the URL does not already show,
    // but its state is the one sent to the provider.
    const payload = JSON.parse(Buffer.from(cookie.split("=")[1].split(".")[0], "base64url").toString());
    assert.equal(payload.s, q.get("state"));
  });

  it("signs in an address from ADMIN_EMAILS with an ordinary admin session", async () => {
    const before = sessions().length;
    const r = await walk({ login: { email: "OPS@example.com" }, next: "/admin/analytics?range=1h" });
    assert.equal(r.callback.status, 200, r.body);
    // A page that moves on itself: after the provider's cross-site redirect a
    // 302 would reach the dashboard without the SameSite=Strict cookie.
    assert.match(r.body, /<meta http-equiv="refresh" content="0; url=\/admin\/analytics\?range=1h">/);
    const session = setCookieFor(r.callback, "insightd_session");
    assert.match(session, /^insightd_session=[A-Za-z0-9_-]{43};/);
    assert.match(session, /HttpOnly/);
    assert.match(session, /SameSite=Strict/);
    assert.match(setCookieFor(r.callback, "insightd_oidc"), /Max-Age=0/);
    assert.equal(r.callback.headers.get("referrer-policy"), "no-referrer");
    const cookie = session.split(";")[0];

    const me = await call(server.url, "/api/auth/session", { headers: { cookie } });
    assert.equal(me.status, 200);
    assert.equal(me.body.id, "ops@example.com");
    assert.equal(me.body.method, "session");
    assert.ok(me.body.csrfToken);
    const metrics = await call(server.url, "/api/admin/metrics", { headers: { cookie } });
    assert.equal(metrics.status, 200, JSON.stringify(metrics.body));
    assert.ok(metrics.body.jobs);
    assert.equal(sessions().length, before + 1);
    assert.match(server.log(), /\[Auth\] 'ops@example.com' signed in with Google/);

    // Logout works as for a password session.
    const out = await call(server.url, "/api/auth/logout", {
      method: "POST",
      headers: { cookie, "x-csrf-token": me.body.csrfToken },
    });
    assert.equal(out.status, 200);
    assert.equal((await call(server.url, "/api/auth/session", { headers: { cookie } })).status, 401);
  });

  it("sends the verifier with the code: the provider checks it against the challenge", async () => {
    const r = await walk({ login: { email: "lead@example.com" } });
    assert.equal(r.callback.status, 200, r.body);
    const ok = provider.tokenRequests.at(-1);
    assert.equal(ok.outcome, "ok");
    const verifier = ok.form.get("code_verifier");
    assert.ok(verifier.length >= 43 && verifier.length <= 128);
    const { createHash } = await import("node:crypto");
    assert.equal(createHash("sha256").update(verifier).digest("base64url"), r.authorize.searchParams.get("code_challenge"));
    assert.equal(ok.form.get("redirect_uri"), `${publicUrl}/api/auth/google/callback`);
    assert.equal(ok.form.get("client_id"), CLIENT_ID);
    assert.match(r.body, /href="\/admin\/analytics"/, "next defaults to the dashboard");
  });

  it("refuses a code redeemed without the right verifier (PKCE), which the server's own request then redeems", async () => {
    let code;
    const r = await walk({
      login: { email: "ops@example.com" },
      tamper: (u) => {
        code = u.searchParams.get("code");
        return u;
      },
      flowCookie: false, // keep the server out of it for now
    });
    await refusedWithoutSession(r, 400, "invalid_state");
    // An interceptor holding only the code: no verifier, or a made-up one.
    for (const verifier of [undefined, "x".repeat(43)]) {
      const form = new URLSearchParams({
        grant_type: "authorization_code",
        code,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uri: `${publicUrl}/api/auth/google/callback`,
      });
      if (verifier) form.set("code_verifier", verifier);
      const res = await fetch(`${provider.issuer}/token`, { method: "POST", body: form });
      assert.equal(res.status, 400);
      assert.equal((await res.json()).error, "invalid_grant");
      assert.equal(provider.tokenRequests.at(-1).outcome, "code_verifier does not match code_challenge");
    }
    // The same code through the browser that started the flow goes through.
    const again = await fetch(`${server.url}${r.callbackUrl.pathname}${r.callbackUrl.search}`, {
      redirect: "manual",
      headers: { cookie: r.flow },
    });
    assert.equal(again.status, 200, await again.text());
    assert.ok(setCookieFor(again, "insightd_session"));
  });

  it("refuses an address not in ADMIN_EMAILS", async () => {
    const before = sessions().length;
    const r = await walk({ login: { email: "intruder@example.com" } });
    await refusedWithoutSession(r, 403, "sign_in_refused");
    assert.equal(sessions().length, before);
    assert.match(server.log(), /\[Auth\] Google sign-in from \S+ refused: intruder@example.com is not in ADMIN_EMAILS/);
  });

  const forgeries = [
    ["a token signed with another key", { wrongKey: true }, /signature does not verify/],
    ["a token for another client", { aud: "someone-else.apps.example.com" }, /aud does not contain/],
    ["an expired token", { expired: true }, /has expired/],
    ["a token with another nonce", { nonce: "replayed-nonce" }, /nonce is not this sign-in's/],
    ["an unverified e-mail", { emailVerified: false }, /has not verified the e-mail/],
    ["an unsigned token (alg none)", { alg: "none" }, /only RS256 is accepted/],
  ];
  for (const [what, misbehave, logged] of forgeries) {
    it(`refuses ${what}`, async () => {
      const before = sessions().length;
      const r = await walk({ login: { email: "ops@example.com", ...misbehave } });
      await refusedWithoutSession(r, 403, "sign_in_refused");
      assert.equal(sessions().length, before);
      assert.match(server.log(), logged);
    });
  }

  it("refuses a callback whose state is not this browser's, or without the flow cookie", async () => {
    const before = sessions().length;
    const wrongState = await walk({
      tamper: (u) => {
        u.searchParams.set("state", "A".repeat(43));
        return u;
      },
    });
    await refusedWithoutSession(wrongState, 400, "invalid_state");
    const otherBrowser = await walk({ flowCookie: false });
    await refusedWithoutSession(otherBrowser, 400, "invalid_state");
    // A forged flow cookie (its MAC no longer fits).
    provider.nextLogin = { email: "ops@example.com" };
    const start = await fetch(`${server.url}/api/auth/google`, { redirect: "manual" });
    const approved = await fetch(start.headers.get("location"), { redirect: "manual" });
    const cb = new URL(approved.headers.get("location"));
    const [name, value] = cookiePair(start.headers.getSetCookie(), "insightd_oidc").split("=");
    const [payload, mac] = value.split(".");
    const flow = JSON.parse(Buffer.from(payload, "base64url").toString());
    flow.r = "/elsewhere";
    const forged = `${name}=${Buffer.from(JSON.stringify(flow)).toString("base64url")}.${mac}`;
    const res = await fetch(`${server.url}${cb.pathname}${cb.search}`, { redirect: "manual", headers: { cookie: forged } });
    assert.equal(res.status, 400);
    assert.equal(setCookieFor(res, "insightd_session"), undefined);
    assert.equal(sessions().length, before);
  });

  it("refuses when the provider answers with an error", async () => {
    const r = await walk({ login: { deny: true } });
    await refusedWithoutSession(r, 403, "provider_refused");
    assert.match(server.log(), /refused by the provider: access_denied/);
  });

  it("only sends people on to paths on this server", async () => {
    for (const next of ["//evil.example.com/", "https://evil.example.com/", "/\\evil.example.com", "admin"]) {
      const res = await fetch(`${server.url}/api/auth/google?next=${encodeURIComponent(next)}`, { redirect: "manual" });
      assert.equal(res.status, 400, next);
      assert.equal(res.headers.get("location"), null);
    }
  });

  it("never logs a token, a code or the client secret", () => {
    const log = server.log();
    assert.ok(provider.idTokens.length >= 5);
    for (const t of provider.idTokens) {
      const [, payload, signature] = t.split(".");
      assert.ok(!log.includes(payload), "an ID token is in the log");
      if (signature) assert.ok(!log.includes(signature), "an ID token's signature is in the log");
    }
    for (const { form } of provider.tokenRequests) {
      assert.ok(!log.includes(form.get("code")), "a code is in the log");
      if (form.get("code_verifier")) assert.ok(!log.includes(form.get("code_verifier")), "a verifier is in the log");
    }
    assert.ok(!log.includes(CLIENT_SECRET));
  });
});

describe("without GOOGLE_* settings", () => {
  let dir;
  let server;

  before(async () => {
    dir = tempDir();
    server = await startServer({ dir });
  });

  after(async () => {
    if (server) await server.stop();
    cleanup(dir);
  });

  it("has no Google routes, and says so", async () => {
    assert.equal((await call(server.url, "/api/auth/google?next=/admin/analytics")).status, 404);
    assert.equal((await call(server.url, "/api/auth/google/callback?code=x&state=y")).status, 404);
    const providers = await call(server.url, "/api/auth/providers");
    assert.equal(providers.status, 200);
    assert.deepEqual(providers.body, { password: true, google: false });
  });

  it("refuses to start with half the Google settings", async () => {
    const half = tempDir();
    try {
      await assert.rejects(
        startServer({ dir: half, env: { GOOGLE_CLIENT_ID: CLIENT_ID } }),
        /GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET must be set together/,
      );
    } finally {
      cleanup(half);
    }
  });
});
