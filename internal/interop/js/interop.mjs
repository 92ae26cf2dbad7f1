// Drives other languages' mainstream webhook and JWT libraries for herald's
// interop tests. Reads a JSON array of cases on stdin and writes a JSON array
// of results ({ok, value} or {ok: false, error}) on stdout, one per case.
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { sign as hubSign, verify as hubVerify } from "@octokit/webhooks-methods";
import Stripe from "stripe";
import jsonwebtoken from "jsonwebtoken";
import * as jose from "jose";

const stripe = new Stripe("sk_test_interop_not_a_real_key");

const ops = {
  // Standard Webhooks reference library.
  async "standard.sign"(c) {
    return new StandardWebhook(c.secret).sign(c.id, new Date(c.timestamp * 1000), c.body);
  },
  async "standard.verify"(c) {
    new StandardWebhook(c.secret).verify(c.body, c.headers);
    return "valid";
  },
  // Svix's library (Standard Webhooks compatible, svix-* or webhook-* headers).
  async "svix.sign"(c) {
    return new SvixWebhook(c.secret).sign(c.id, new Date(c.timestamp * 1000), c.body);
  },
  async "svix.verify"(c) {
    new SvixWebhook(c.secret).verify(c.body, c.headers);
    return "valid";
  },
  // GitHub's X-Hub-Signature-256 format, through Octokit.
  async "hub.sign"(c) {
    return await hubSign(c.secret, c.body);
  },
  async "hub.verify"(c) {
    if (!(await hubVerify(c.secret, c.body, c.signature))) throw new Error("signature does not match");
    return "valid";
  },
  // Stripe's Stripe-Signature format, through the stripe package.
  async "stripe.sign"(c) {
    return stripe.webhooks.generateTestHeaderString({ payload: c.body, secret: c.secret, timestamp: c.timestamp });
  },
  async "stripe.verify"(c) {
    stripe.webhooks.constructEvent(c.body, c.signature, c.secret, 300);
    return "valid";
  },
  // jsonwebtoken: HS*, RS256, ES256 (it has no EdDSA).
  async "jsonwebtoken.sign"(c) {
    const opts = { algorithm: c.alg };
    if (c.kid) opts.keyid = c.kid;
    return jsonwebtoken.sign(c.claims, c.key, opts);
  },
  async "jsonwebtoken.verify"(c) {
    const claims = jsonwebtoken.verify(c.token, c.key, { algorithms: [c.alg], audience: c.audience, issuer: c.issuer });
    return JSON.stringify(claims);
  },
  // jose: every algorithm, PEM keys or a JWKS URL.
  async "jose.sign"(c) {
    const key = c.alg.startsWith("HS") ? new TextEncoder().encode(c.key) : await jose.importPKCS8(c.key, c.alg);
    const header = { alg: c.alg };
    if (c.kid) header.kid = c.kid;
    return await new jose.SignJWT(c.claims).setProtectedHeader(header).sign(key);
  },
  async "jose.verify"(c) {
    let key;
    if (c.jwksURL) key = jose.createRemoteJWKSet(new URL(c.jwksURL));
    else if (c.alg.startsWith("HS")) key = new TextEncoder().encode(c.key);
    else key = await jose.importSPKI(c.key, c.alg);
    const { payload } = await jose.jwtVerify(c.token, key, { algorithms: [c.alg], audience: c.audience, issuer: c.issuer });
    return JSON.stringify(payload);
  },
};

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const c of JSON.parse(input)) {
  try {
    const op = ops[c.op];
    if (!op) throw new Error(`unknown op ${c.op}`);
    results.push({ ok: true, value: await op(c) });
  } catch (e) {
    results.push({ ok: false, error: String(e && e.message ? e.message : e) });
  }
}
process.stdout.write(JSON.stringify(results));
