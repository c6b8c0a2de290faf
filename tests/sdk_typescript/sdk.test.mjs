// The shop's TypeScript SDK (built by tsc) against the running system, through the fault proxy of
// tests/sdk_support.py. Run by tests/test_sdk.py with Node's own test runner:
// SDK_ENTRY (dist/index.js), SDK_PROXY (the proxy's URL), SDK_GATEWAY, SDK_TOKEN, and SDK_USER_ID and
// SDK_PRODUCT_ID: a user and a product that exist (an order's references are checked).
import assert from "node:assert/strict";
import { test } from "node:test";

const { createSdk, ProblemError, PREFER_WAIT } = await import(process.env.SDK_ENTRY);
const PROXY = process.env.SDK_PROXY;
const GATEWAY = process.env.SDK_GATEWAY;
const TOKEN = process.env.SDK_TOKEN;

const ORDER = {
  user_id: process.env.SDK_USER_ID,
  email: "ts-sdk@shop.test",
  lines: [{ product_id: process.env.SDK_PRODUCT_ID, quantity: 1, unit_price: "5.00" }],
  amount: "5.00",
  currency: "EUR",
};

async function seen(method, path) {
  const all = await (await fetch(`${PROXY}/__proxy/seen`)).json();
  return all.filter((s) => s.method === method && s.path === path);
}

async function inject(...faults) {
  const answer = await fetch(`${PROXY}/__proxy/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(faults),
  });
  assert.equal(answer.status, 200);
}

async function orders() {
  const answer = await fetch(`${GATEWAY}/v1/orders`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(answer.status, 200);
  return (await answer.json()).total;
}

test("an order placed with the SDK is followed to CONFIRMED", async () => {
  const tokens = [];
  const sdk = createSdk({ baseUrl: PROXY, token: async () => (tokens.push(TOKEN), TOKEN) });
  const answer = await sdk.call(sdk.client.POST("/v1/orders", { body: ORDER }));
  assert.equal(answer.status, 202);
  const sent = (await seen("POST", "/v1/orders")).at(-1);
  assert.equal(answer.correlationId, sent.headers["x-correlation-id"]);
  assert.equal(sent.headers.authorization, `Bearer ${TOKEN}`);
  assert.ok(sent.headers["idempotency-key"], "placeOrder is idempotent: the SDK gave it a key");
  const statuses = [];
  assert.equal(await sdk.follow(answer.value.status_url, { onStatus: (s) => statuses.push(s) }), "CONFIRMED");
  assert.equal(statuses[0], "PENDING_PAYMENT");
  assert.equal(statuses.at(-1), "CONFIRMED");
  const streams = await seen("GET", `${answer.value.status_url}/events`);
  assert.deepEqual(streams.map((s) => s.answered), [200], "followed over Server-Sent Events");
  // Without the stream, the helper polls the status.
  assert.equal(await sdk.follow(answer.value.status_url, { stream: false }), "CONFIRMED");
  assert.ok((await seen("GET", answer.value.status_url)).length > 0);
});

test("an order placed with Prefer: wait is settled from its answer", async () => {
  const sdk = createSdk({ baseUrl: PROXY, token: async () => TOKEN });
  const answer = await sdk.call(
    sdk.client.POST("/v1/orders", { body: ORDER, params: { header: { Prefer: PREFER_WAIT } } }),
  );
  assert.equal((await seen("POST", "/v1/orders")).at(-1).headers.prefer, "wait=10");
  const statuses = [];
  assert.equal(await sdk.settle(answer, { onStatus: (s) => statuses.push(s) }), "CONFIRMED");
  if (answer.status === 201) {
    // the saga ended within the wait: the answer is the order, and no stream was opened
    assert.equal(answer.value.status, "CONFIRMED");
    assert.deepEqual(statuses, ["CONFIRMED"]);
    assert.equal((await seen("GET", `/v1/orders/${answer.value.id}/events`)).length, 0);
  } else {
    assert.equal(answer.status, 202);
  }
  const plain = await sdk.call(sdk.client.POST("/v1/orders", { body: ORDER }));
  assert.equal(plain.status, 202);
  assert.equal(await sdk.settle(plain), "CONFIRMED");
  assert.equal((await seen("GET", `${plain.value.status_url}/events`)).length, 1);
});

test("retries keep the key and the correlation id, and make one order", async () => {
  const before = await orders();
  // The first attempt reaches the gateway but its answer is lost (503); the second is rate limited.
  await inject(
    { method: "POST", path: "/v1/orders", status: 503, retry_after: "0", forward: true },
    { method: "POST", path: "/v1/orders", status: 429, retry_after: "1" },
  );
  const count = (await seen("POST", "/v1/orders")).length;
  const sdk = createSdk({ baseUrl: PROXY, token: () => TOKEN });
  const answer = await sdk.call(sdk.client.POST("/v1/orders", { body: ORDER }));
  const attempts = (await seen("POST", "/v1/orders")).slice(count);
  assert.deepEqual(attempts.map((a) => a.answered), [503, 429, 202]);
  assert.equal(new Set(attempts.map((a) => a.headers["idempotency-key"])).size, 1);
  assert.deepEqual([...new Set(attempts.map((a) => a.headers["x-correlation-id"]))], [answer.correlationId]);
  assert.ok(attempts[2].at - attempts[1].at >= 1.0, "Retry-After: 1 was waited for");
  assert.equal(await orders(), before + 1, "the retry was replayed, not placed again");
  assert.equal(await sdk.follow(answer.value.status_url), "CONFIRMED");
});

test("a POST that is not idempotent is never retried", async () => {
  await inject({ method: "POST", path: "/v1/products", status: 503, retry_after: "0" });
  const count = (await seen("POST", "/v1/products")).length;
  const sdk = createSdk({ baseUrl: PROXY, token: () => TOKEN });
  const body = { sku: "SDK-TS-1", name: "A teapot", price: "19.90" };
  await assert.rejects(sdk.call(sdk.client.POST("/v1/products", { body })), (error) => {
    assert.ok(error instanceof ProblemError);
    assert.equal(error.status, 503);
    return true;
  });
  const attempts = (await seen("POST", "/v1/products")).slice(count);
  assert.equal(attempts.length, 1);
  assert.equal(attempts[0].headers["idempotency-key"], undefined);
  const created = await sdk.call(sdk.client.POST("/v1/products", { body }));
  assert.equal(created.status, 201);
  assert.equal(created.value.sku, "SDK-TS-1");
});

test("problem answers are typed errors, and reads are retried", async () => {
  const anonymous = createSdk({ baseUrl: PROXY });
  await assert.rejects(anonymous.call(anonymous.client.GET("/v1/orders")), (error) => {
    assert.ok(error instanceof ProblemError);
    assert.equal(error.status, 401);
    assert.ok(error.correlationId);
    return true;
  });
  const sdk = createSdk({ baseUrl: PROXY, token: () => TOKEN });
  const missing = sdk.client.GET("/v1/orders/{id}", { params: { path: { id: "00000000-0000-4000-8000-000000000009" } } });
  await assert.rejects(sdk.call(missing), (error) => error instanceof ProblemError && error.status === 404 && !!error.title);
  await inject({ method: "GET", path: "/v1/orders", status: 503 }, { method: "GET", path: "/v1/orders", status: 503 });
  const count = (await seen("GET", "/v1/orders")).length;
  const page = await sdk.call(sdk.client.GET("/v1/orders"));
  assert.equal(page.status, 200);
  const attempts = (await seen("GET", "/v1/orders")).slice(count);
  assert.deepEqual(attempts.map((a) => a.answered), [503, 503, 200]);
  assert.equal(new Set(attempts.map((a) => a.headers["x-correlation-id"])).size, 1);
});
