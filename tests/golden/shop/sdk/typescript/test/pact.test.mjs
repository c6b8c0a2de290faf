// The SDK's requests, recorded as a Pact consumer contract of the gateway.
//
// The SDK's own calls (through createSdk: the token, a correlation id per call, an Idempotency-Key
// for idempotent operations, problem answers as ProblemError) run against Pact's mock server, which
// answers as the pact says and fails the test on any request the pact does not hold. The pact is
// written to the project's pacts/ folder (or PACT_DIR) as shop-sdk-typescript-gateway.json;
// `msgen contracts verify` replays it against the gateway, with the services behind it.
// Answers are matched by type and format, not by value: the gateway may add fields, but not drop or
// retype one the SDK reads. Run with `npm test` (builds dist/ first).
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { MatchersV3, PactV4 } from "@pact-foundation/pact";

import { createSdk, ProblemError } from "../dist/index.js";

const { eachLike, like, regex } = MatchersV3;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const PACTS = process.env.PACT_DIR ?? path.resolve(HERE, "../../../pacts");
const UUID_FORMAT = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const EXAMPLE_ID = "00000000-0000-4000-8000-000000000001";
const MISSING_ID = "00000000-0000-4000-8000-000000000404";
const TOKEN = "a-token"; // the verification sends a token the gateway accepts instead

const pact = new PactV4({
  consumer: "shop-sdk-typescript",
  provider: "gateway",
  dir: PACTS,
  logLevel: "warn",
});

/** What the SDK sends with every call: a bearer token, a correlation id, and a key when idempotent. */
function requestHeaders(idempotencyKey) {
  const headers = {
    Authorization: regex("^Bearer \\S+$", `Bearer ${TOKEN}`),
    "X-Correlation-ID": regex(UUID_FORMAT, EXAMPLE_ID),
  };
  if (idempotencyKey) headers["Idempotency-Key"] = regex(UUID_FORMAT, EXAMPLE_ID);
  return headers;
}

function createInteraction() {
  return pact
    .addInteraction()
    .given("a Product exists", {"id": "00000000-0000-4000-8000-000000000001"})
    .given("a User exists", {"id": "00000000-0000-4000-8000-000000000001"})
    .given("no Order exists", {})
    .uponReceiving("placeOrder: POST /v1/orders")
    .withRequest("POST", "/v1/orders", (builder) => {
      builder.headers(requestHeaders(true));
      builder.jsonBody({ "user_id": regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", "00000000-0000-4000-8000-000000000001"), "email": like("someone@example.com"), "lines": eachLike({ "product_id": regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", "00000000-0000-4000-8000-000000000001"), "quantity": like(1), "unit_price": regex("^-?\\d+(\\.\\d+)?$", "12.50") }, 1), "amount": regex("^-?\\d+(\\.\\d+)?$", "12.50"), "currency": regex("^(EUR|USD|GBP)$", "EUR") });
    })
    .willRespondWith(202, (builder) => {
      builder.headers({ "X-Correlation-ID": regex(UUID_FORMAT, EXAMPLE_ID) });
      builder.jsonBody({ "id": regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", "00000000-0000-4000-8000-000000000001"), "status_url": regex("^/v1/orders/[^/]+$", "/v1/orders/00000000-0000-4000-8000-000000000001") });
    });
}

function getInteraction() {
  return pact
    .addInteraction()
    .given("a Order exists", {"id": "00000000-0000-4000-8000-000000000001"})
    .uponReceiving("getOrder: GET /v1/orders/{id}")
    .withRequest("GET", "/v1/orders/00000000-0000-4000-8000-000000000001", (builder) => {
      builder.headers(requestHeaders(false));
    })
    .willRespondWith(200, (builder) => {
      builder.headers({ "X-Correlation-ID": regex(UUID_FORMAT, EXAMPLE_ID) });
      builder.jsonBody({ "id": regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", "00000000-0000-4000-8000-000000000001"), "user_id": regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", "00000000-0000-4000-8000-000000000001"), "email": like("someone@example.com"), "lines": eachLike({ "product_id": regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", "00000000-0000-4000-8000-000000000001"), "quantity": like(1), "unit_price": regex("^-?\\d+(\\.\\d+)?$", "12.50") }, 1), "amount": regex("^-?\\d+(\\.\\d+)?$", "12.50"), "currency": regex("^(EUR|USD|GBP)$", "EUR"), "status": regex("^(PENDING_PAYMENT|PAID|CONFIRMED|CANCELLED)$", "CONFIRMED"), "created_at": regex("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$", "2026-01-01T10:00:00Z"), "updated_at": regex("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$", "2026-01-01T10:00:00Z") });
    });
}

function missingInteraction() {
  return pact
    .addInteraction()
    .given("no Order exists", {})
    .uponReceiving("getOrder of a missing Order: a problem")
    .withRequest("GET", "/v1/orders/00000000-0000-4000-8000-000000000404", (builder) => {
      builder.headers(requestHeaders(false));
    })
    .willRespondWith(404, (builder) => {
      builder.headers({ "Content-Type": "application/problem+json" });
      builder.jsonBody({ "type": like("about:blank"), "title": like("Not Found"), "status": like(404) });
    });
}

const sdk = (url) => createSdk({ baseUrl: url, token: () => TOKEN });

test("creates Order with a key and a correlation id", async () => {
  await createInteraction().executeTest(async (server) => {
    const answer = await sdk(server.url).call(
      sdk(server.url).client.POST("/v1/orders", { body: {"user_id": "00000000-0000-4000-8000-000000000001", "email": "someone@example.com", "lines": [{"product_id": "00000000-0000-4000-8000-000000000001", "quantity": 1, "unit_price": "12.50"}], "amount": "12.50", "currency": "EUR"} }),
    );
    assert.equal(answer.status, 202);
    assert.equal(answer.value.id, EXAMPLE_ID);
    assert.ok(answer.correlationId);
  });
});

test("reads Order and follows it to CONFIRMED", async () => {
  await getInteraction().executeTest(async (server) => {
    const client = sdk(server.url);
    const answer = await client.call(client.client.GET("/v1/orders/{id}", { params: { path: { id: EXAMPLE_ID } } }));
    assert.equal(answer.status, 200);
    assert.equal(answer.value.id, EXAMPLE_ID);
    assert.ok(answer.correlationId);
    // by polling: Pact has no streamed answers, the status stream is not in the pact
    assert.equal(await client.follow("/v1/orders/00000000-0000-4000-8000-000000000001", { stream: false }), "CONFIRMED");
  });
});

test("a missing Order is a typed error", async () => {
  await missingInteraction().executeTest(async (server) => {
    const client = sdk(server.url);
    await assert.rejects(
      client.call(client.client.GET("/v1/orders/{id}", { params: { path: { id: MISSING_ID } } })),
      (error) => {
        assert.ok(error instanceof ProblemError);
        assert.equal(error.status, 404);
        assert.ok(error.title);
        assert.ok(error.correlationId);
        return true;
      },
    );
  });
});
