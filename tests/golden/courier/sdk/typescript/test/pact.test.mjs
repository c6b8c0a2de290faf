// The SDK's requests, recorded as a Pact consumer contract of the gateway.
//
// The SDK's own calls (through createSdk: the token, a correlation id per call, an Idempotency-Key
// for idempotent operations, problem answers as ProblemError) run against Pact's mock server, which
// answers as the pact says and fails the test on any request the pact does not hold. The pact is
// written to the project's pacts/ folder (or PACT_DIR) as courier-sdk-typescript-gateway.json;
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
  consumer: "courier-sdk-typescript",
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
    .given("a Customer exists", {"id": "00000000-0000-4000-8000-000000000001"})
    .given("no Delivery exists", {})
    .uponReceiving("bookDelivery: POST /v1/deliveries")
    .withRequest("POST", "/v1/deliveries", (builder) => {
      builder.headers(requestHeaders(true));
      builder.jsonBody({ "customer_id": regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", "00000000-0000-4000-8000-000000000001"), "pickup": { "lat": regex("^-?\\d+(\\.\\d+)?$", "12.500000"), "lng": regex("^-?\\d+(\\.\\d+)?$", "12.500000"), "label": like("Example") }, "dropoff": { "lat": regex("^-?\\d+(\\.\\d+)?$", "12.500000"), "lng": regex("^-?\\d+(\\.\\d+)?$", "12.500000"), "label": like("Example") }, "zone": like("city-centre"), "distance_km": regex("^-?\\d+(\\.\\d+)?$", "12.50"), "express": like(true) });
    })
    .willRespondWith(202, (builder) => {
      builder.headers({ "X-Correlation-ID": regex(UUID_FORMAT, EXAMPLE_ID) });
      builder.jsonBody({ "id": regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", "00000000-0000-4000-8000-000000000001"), "status_url": regex("^/v1/deliveries/[^/]+$", "/v1/deliveries/00000000-0000-4000-8000-000000000001") });
    });
}

function getInteraction() {
  return pact
    .addInteraction()
    .given("a Delivery exists", {"id": "00000000-0000-4000-8000-000000000001"})
    .uponReceiving("getDelivery: GET /v1/deliveries/{id}")
    .withRequest("GET", "/v1/deliveries/00000000-0000-4000-8000-000000000001", (builder) => {
      builder.headers(requestHeaders(false));
    })
    .willRespondWith(200, (builder) => {
      builder.headers({ "X-Correlation-ID": regex(UUID_FORMAT, EXAMPLE_ID) });
      builder.jsonBody({ "id": regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", "00000000-0000-4000-8000-000000000001"), "customer_id": regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", "00000000-0000-4000-8000-000000000001"), "pickup": { "lat": regex("^-?\\d+(\\.\\d+)?$", "12.500000"), "lng": regex("^-?\\d+(\\.\\d+)?$", "12.500000"), "label": like("Example") }, "dropoff": { "lat": regex("^-?\\d+(\\.\\d+)?$", "12.500000"), "lng": regex("^-?\\d+(\\.\\d+)?$", "12.500000"), "label": like("Example") }, "zone": like("city-centre"), "distance_km": regex("^-?\\d+(\\.\\d+)?$", "12.50"), "express": like(true), "fee": null, "courier_id": null, "status": regex("^(REQUESTED|PRICED|COURIER_ASSIGNED|SCHEDULED|CANCELLED)$", "SCHEDULED"), "created_at": regex("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$", "2026-01-01T10:00:00Z"), "updated_at": regex("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$", "2026-01-01T10:00:00Z") });
    });
}

function missingInteraction() {
  return pact
    .addInteraction()
    .given("no Delivery exists", {})
    .uponReceiving("getDelivery of a missing Delivery: a problem")
    .withRequest("GET", "/v1/deliveries/00000000-0000-4000-8000-000000000404", (builder) => {
      builder.headers(requestHeaders(false));
    })
    .willRespondWith(404, (builder) => {
      builder.headers({ "Content-Type": "application/problem+json" });
      builder.jsonBody({ "type": like("about:blank"), "title": like("Not Found"), "status": like(404) });
    });
}

const sdk = (url) => createSdk({ baseUrl: url, token: () => TOKEN });

test("creates Delivery with a key and a correlation id", async () => {
  await createInteraction().executeTest(async (server) => {
    const answer = await sdk(server.url).call(
      sdk(server.url).client.POST("/v1/deliveries", { body: {"customer_id": "00000000-0000-4000-8000-000000000001", "pickup": {"lat": "12.500000", "lng": "12.500000", "label": "Example"}, "dropoff": {"lat": "12.500000", "lng": "12.500000", "label": "Example"}, "zone": "city-centre", "distance_km": "12.50", "express": true} }),
    );
    assert.equal(answer.status, 202);
    assert.equal(answer.value.id, EXAMPLE_ID);
    assert.ok(answer.correlationId);
  });
});

test("reads Delivery and follows it to SCHEDULED", async () => {
  await getInteraction().executeTest(async (server) => {
    const client = sdk(server.url);
    const answer = await client.call(client.client.GET("/v1/deliveries/{id}", { params: { path: { id: EXAMPLE_ID } } }));
    assert.equal(answer.status, 200);
    assert.equal(answer.value.id, EXAMPLE_ID);
    assert.ok(answer.correlationId);
    // by polling: Pact has no streamed answers, the status stream is not in the pact
    assert.equal(await client.follow("/v1/deliveries/00000000-0000-4000-8000-000000000001", { stream: false }), "SCHEDULED");
  });
});

test("a missing Delivery is a typed error", async () => {
  await missingInteraction().executeTest(async (server) => {
    const client = sdk(server.url);
    await assert.rejects(
      client.call(client.client.GET("/v1/deliveries/{id}", { params: { path: { id: MISSING_ID } } })),
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
