// Admin sign-in against a real insightd with Node's fetch: the generated
// password is printed once (and not on the next start), login sets an HttpOnly
// SameSite=Strict cookie, admin routes refuse anonymous requests and cookie
// state changes without the CSRF token, API tokens work until revoked, logout
// ends the session, and five wrong passwords get 429 with Retry-After.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "./http.mjs";
import { startServer, sqliteRows, tempDir, cleanup } from "../ingest/harness.mjs";

const GENERATED = /Generated admin password for 'admin': (\S+) \(shown once/g;


describe("admin sign-in", () => {
  let dir;
  let server;
  let password;
  let firstLog;

  before(async () => {
    dir = tempDir();
    const first = await startServer({ dir });
    firstLog = first.log();
    await first.stop();
    server = await startServer({ dir });
    password = [...firstLog.matchAll(GENERATED)].map((m) => m[1])[0];
  });

  after(async () => {
    if (server) await server.stop();
    cleanup(dir);
  });

  it("prints a generated password once, at the first start only, and stores only its hash", () => {
    assert.equal([...firstLog.matchAll(GENERATED)].length, 1, firstLog);
    assert.ok(password && password.length >= 16, firstLog);
    assert.doesNotMatch(server.log(), /Generated admin password/);
    assert.ok(!server.log().includes(password), "the second start must not print the password");
    const rows = sqliteRows(join(dir, "data", "insightd.db"), 'SELECT password_hash, source FROM "AdminCredential"');
    assert.equal(rows.length, 1);
    assert.match(rows[0].password_hash, /^\$argon2id\$/);
    assert.ok(!rows[0].password_hash.includes(password));
    assert.equal(rows[0].source, "generated");
  });

  it("keeps ingestion and health public", async () => {
    assert.equal((await call(server.url, "/healthz")).status, 200);
    assert.equal((await call(server.url, "/readyz")).status, 200);
    const ingest = await call(server.url, "/api/events", { method: "POST", body: [{ eventType: "page_view" }] });
    assert.equal(ingest.status, 200, JSON.stringify(ingest.body));
  });

  let cookie;
  let csrf;

  it("refuses wrong credentials with 401 invalid_credentials", async () => {
    const res = await call(server.url, "/api/auth/login", { method: "POST", body: { id: "admin", password: "wrong-password" } });
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, "invalid_credentials");
    assert.equal(res.headers.get("set-cookie"), null);
  });

  it("signs in: an HttpOnly, SameSite=Strict session cookie and a CSRF token", async () => {
    const res = await call(server.url, "/api/auth/login", { method: "POST", body: { id: "admin", password } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.ok, true);
    assert.ok(res.body.csrfToken);
    const setCookie = res.headers.get("set-cookie");
    assert.match(setCookie, /^insightd_session=[A-Za-z0-9_-]{43};/);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.match(setCookie, /Path=\//);
    assert.doesNotMatch(setCookie, /Secure/, "plain http on 127.0.0.1");
    cookie = setCookie.split(";")[0];
    csrf = res.body.csrfToken;
    const me = await call(server.url, "/api/auth/session", { headers: { cookie } });
    assert.equal(me.status, 200);
    assert.equal(me.body.id, "admin");
    assert.equal(me.body.csrfToken, csrf);
  });

  let token;
  let tokenId;

  it("guards admin routes: 401 anonymous, 200 with the cookie, 403 without the CSRF token, 201 with it", async () => {
    const anonymous = await call(server.url, "/api/admin/tokens");
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, "unauthorized");
    assert.equal((await call(server.url, "/api/auth/session")).status, 401);

    const list = await call(server.url, "/api/admin/tokens", { headers: { cookie } });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.tokens, []);

    const noCsrf = await call(server.url, "/api/admin/tokens", { method: "POST", body: { name: "ci" }, headers: { cookie } });
    assert.equal(noCsrf.status, 403);
    assert.equal(noCsrf.body.error.code, "csrf");
    const wrongCsrf = await call(server.url, "/api/admin/tokens", {
      method: "POST",
      body: { name: "ci" },
      headers: { cookie, "x-csrf-token": (csrf[0] === "x" ? "y" : "x") + csrf.slice(1) },  // one character off
    });
    assert.equal(wrongCsrf.status, 403);

    const created = await call(server.url, "/api/admin/tokens", {
      method: "POST",
      body: { name: "ci" },
      headers: { cookie, "x-csrf-token": csrf },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.match(created.body.token, /^ins_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.body.name, "ci");
    token = created.body.token;
    tokenId = created.body.id;
  });

  it("authenticates with the API token (no CSRF needed) until it is revoked", async () => {
    const bearer = { authorization: `Bearer ${token}` };
    const list = await call(server.url, "/api/admin/tokens", { headers: bearer });
    assert.equal(list.status, 200);
    assert.equal(list.body.tokens.length, 1);
    assert.equal(list.body.tokens[0].id, tokenId);
    assert.ok(!JSON.stringify(list.body).includes(token), "the token is shown only once");
    const stored = sqliteRows(join(dir, "data", "insightd.db"), 'SELECT token_hash FROM "ApiToken"');
    assert.ok(!stored[0].token_hash.includes(token.slice(4)), "stored hashed");

    const second = await call(server.url, "/api/admin/tokens", { method: "POST", body: { name: "script" }, headers: bearer });
    assert.equal(second.status, 201);

    const revoked = await call(server.url, `/api/admin/tokens/${tokenId}`, { method: "DELETE", headers: bearer });
    assert.equal(revoked.status, 200);
    const after = await call(server.url, "/api/admin/tokens", { headers: bearer });
    assert.equal(after.status, 401);
    const other = await call(server.url, "/api/admin/tokens", { headers: { authorization: `Bearer ${second.body.token}` } });
    assert.equal(other.status, 200);
    assert.equal(other.body.tokens.length, 1);
  });

  it("logs out: the session ends and the cookie is cleared", async () => {
    const noCsrf = await call(server.url, "/api/auth/logout", { method: "POST", headers: { cookie } });
    assert.equal(noCsrf.status, 403);
    const res = await call(server.url, "/api/auth/logout", { method: "POST", headers: { cookie, "x-csrf-token": csrf } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("set-cookie"), /^insightd_session=;.*Max-Age=0/);
    assert.equal((await call(server.url, "/api/admin/tokens", { headers: { cookie } })).status, 401);
    assert.equal((await call(server.url, "/api/auth/session", { headers: { cookie } })).status, 401);
  });

  it("rate-limits: after five wrong passwords, 429 with Retry-After even with the right one", async () => {
    // One wrong attempt was made above, and a success since cleared it.
    for (let i = 0; i < 5; i++) {
      const res = await call(server.url, "/api/auth/login", { method: "POST", body: { id: "admin", password: `wrong-${i}` } });
      assert.equal(res.status, 401, `attempt ${i + 1}`);
    }
    for (const pw of ["wrong-again", password]) {
      const res = await call(server.url, "/api/auth/login", { method: "POST", body: { id: "admin", password: pw } });
      assert.equal(res.status, 429);
      assert.equal(res.body.error.code, "rate_limited");
      const retryAfter = Number(res.headers.get("retry-after"));
      assert.ok(retryAfter > 0 && retryAfter <= 900, `Retry-After: ${retryAfter}`);
    }
  });
});

describe("admin sign-in with ADMIN_PASSWORD and an https PUBLIC_URL", () => {
  it("uses the configured password, never prints it, and marks the cookie Secure", async () => {
    const dir = tempDir();
    const server = await startServer({
      dir,
      env: { ADMIN_ID: "ops", ADMIN_PASSWORD: "chosen-password-123", PUBLIC_URL: "https://insightd.example.com" },
    });
    try {
      assert.doesNotMatch(server.log(), /Generated admin password/);
      assert.ok(!server.log().includes("chosen-password-123"));
      const wrongId = await call(server.url, "/api/auth/login", { method: "POST", body: { id: "admin", password: "chosen-password-123" } });
      assert.equal(wrongId.status, 401);
      const res = await call(server.url, "/api/auth/login", { method: "POST", body: { id: "ops", password: "chosen-password-123" } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("set-cookie"), /; Secure/);
    } finally {
      await server.stop();
      cleanup(dir);
    }
  });
});
