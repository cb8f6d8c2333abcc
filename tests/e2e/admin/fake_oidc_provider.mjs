// A small OpenID Connect provider for end-to-end tests, standing in for Google:
// discovery, a JWKS with a freshly generated RSA key, an /authorize that
// approves at once (redirecting back with a code), and a /token that checks the
// client credentials, the code, the redirect URI and the PKCE verifier against
// the challenge (S256) before it hands out an RS256 ID token with the nonce it
// was given. Node's own http and crypto only.
//
// Each test says who "signs in" next and how the provider should misbehave:
//   provider.nextLogin = { email, emailVerified, deny, wrongKey, aud, expired, nonce, alg }
import { createServer } from "node:http";
import { createHash, generateKeyPairSync, randomBytes, createSign } from "node:crypto";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

export async function startFakeOidcProvider({ clientId, clientSecret }) {
  const kid = "fake-key-1";
  const key = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const codes = new Map(); // code → what /authorize was asked, and who signed in
  const provider = {
    issuer: "",
    nextLogin: {},
    authorizeRequests: [], // URLSearchParams of each /authorize
    tokenRequests: [], // { form: URLSearchParams, outcome: "ok" | error reason }
    idTokens: [], // every ID token handed out (to check that none is logged)
    close: () => new Promise((r) => server.close(r)),
  };

  function idToken(login, asked) {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: login.alg ?? "RS256", kid, typ: "JWT" };
    const claims = {
      iss: provider.issuer,
      aud: login.aud ?? clientId,
      sub: `sub-${login.email}`,
      email: login.email,
      email_verified: login.emailVerified ?? true,
      nonce: login.nonce ?? asked.get("nonce"),
      iat: login.expired ? now - 300 : now,
      exp: login.expired ? now - 120 : now + 3600,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    if (header.alg === "none") return `${input}.`;
    const signer = createSign("RSA-SHA256");
    signer.update(input);
    return `${input}.${b64url(signer.sign((login.wrongKey ? otherKey : key).privateKey))}`;
  }

  function json(res, status, body) {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body));
  }

  function authorize(url, res) {
    const q = url.searchParams;
    provider.authorizeRequests.push(q);
    const login = provider.nextLogin;
    const redirect = q.get("redirect_uri");
    if (q.get("client_id") !== clientId || q.get("response_type") !== "code" || !redirect ||
        !(q.get("scope") ?? "").split(" ").includes("openid") ||
        q.get("code_challenge_method") !== "S256" || !q.get("code_challenge")) {
      return json(res, 400, { error: "invalid_request" });
    }
    const back = new URL(redirect);
    if (login.deny) {
      back.searchParams.set("error", "access_denied");
    } else {
      const code = b64url(randomBytes(24));
      codes.set(code, { asked: q, login: { ...login, email: login.email ?? "nobody@example.com" }, used: false });
      back.searchParams.set("code", code);
    }
    back.searchParams.set("state", q.get("state") ?? "");
    res.writeHead(302, { location: back.toString() });
    res.end();
  }

  function token(form, res) {
    const refuse = (reason, status = 400) => {
      provider.tokenRequests.push({ form, outcome: reason });
      return json(res, status, { error: status === 401 ? "invalid_client" : "invalid_grant", reason });
    };
    if (form.get("grant_type") !== "authorization_code") return refuse("grant_type");
    if (form.get("client_id") !== clientId || form.get("client_secret") !== clientSecret) {
      return refuse("client credentials", 401);
    }
    const entry = codes.get(form.get("code") ?? "");
    if (!entry || entry.used) return refuse("unknown or used code");
    if (form.get("redirect_uri") !== entry.asked.get("redirect_uri")) return refuse("redirect_uri");
    const verifier = form.get("code_verifier") ?? "";
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    if (verifier.length < 43 || challenge !== entry.asked.get("code_challenge")) {
      return refuse("code_verifier does not match code_challenge");
    }
    entry.used = true;
    const id = idToken(entry.login, entry.asked);
    provider.idTokens.push(id);
    provider.tokenRequests.push({ form, outcome: "ok" });
    json(res, 200, { access_token: b64url(randomBytes(16)), token_type: "Bearer", expires_in: 3600, id_token: id });
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url, provider.issuer);
    if (req.method === "GET" && url.pathname === "/.well-known/openid-configuration") {
      return json(res, 200, {
        issuer: provider.issuer,
        authorization_endpoint: `${provider.issuer}/authorize`,
        token_endpoint: `${provider.issuer}/token`,
        jwks_uri: `${provider.issuer}/jwks`,
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        code_challenge_methods_supported: ["S256"],
      });
    }
    if (req.method === "GET" && url.pathname === "/jwks") {
      return json(res, 200, { keys: [{ ...key.publicKey.export({ format: "jwk" }), kid, use: "sig", alg: "RS256" }] });
    }
    if (req.method === "GET" && url.pathname === "/authorize") return authorize(url, res);
    if (req.method === "POST" && url.pathname === "/token") {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => token(new URLSearchParams(body), res));
      return undefined;
    }
    return json(res, 404, { error: "not_found" });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  provider.issuer = `http://127.0.0.1:${server.address().port}`;
  return provider;
}
