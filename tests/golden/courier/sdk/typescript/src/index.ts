// The courier SDK: openapi-fetch over the types of ./schema.ts, with what every call goes through.
// Written by msgen 0.1.0 from the spec (kept by `msgen regen` with your edits merged).
//
// - a token provider, asked before every attempt (so a refreshed token is used by a retry);
// - an X-Correlation-ID per logical call, the same on each of its retries, returned on the answer;
// - retries with exponential backoff and full jitter, for idempotent requests only: GET, HEAD, OPTIONS,
//   PUT, DELETE, and the operations the contract marks idempotent, which get an automatic
//   Idempotency-Key reused by every retry (a POST without one is never retried);
// - Retry-After honoured on 429 and 503; problem+json answers thrown as ProblemError;
// - follow(): an accepted (202) operation to its final status, over Server-Sent Events, else by polling;
//   settle(): the same from a create's answer, read from it when it came with Prefer: PREFER_WAIT (201).

import createClient, { type Client } from "openapi-fetch";
import { createParser } from "eventsource-parser";
import type { paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

export const CORRELATION_HEADER = "X-Correlation-ID";
export const IDEMPOTENCY_HEADER = "Idempotency-Key";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const RETRIED_STATUSES = new Set([429, 502, 503, 504]);

/** The operations of the contract that accept an Idempotency-Key: [method, path]. */
export const IDEMPOTENT_OPERATIONS: ReadonlyArray<readonly [string, RegExp]> = [
  ["POST", new RegExp("^" + "/v1/deliveries" + "$")],
];

/** The statuses that end an asynchronous operation, by the path its status_url starts with. */
export const FINAL_STATUSES: Readonly<Record<string, readonly string[]>> = {
  "/v1/deliveries/": ["SCHEDULED", "CANCELLED"],
};

/** The entity field holding that status, by the same prefix. */
export const STATUS_FIELDS: Readonly<Record<string, string>> = {
  "/v1/deliveries/": "status",
};

/** RFC 7240's Prefer header for a create that starts a saga (`params: { header: { Prefer: PREFER_WAIT } }`): the
 * answer waits up to 10 s for the saga to end and is then 201 with the entity in its final status. */
export const PREFER_WAIT = "wait=10";

export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  attempts: number;
  /** Milliseconds: the n-th retry waits up to baseDelay * 2 ** (n - 1), at random. */
  baseDelay: number;
  /** The longest backoff between two attempts, in milliseconds. */
  maxDelay: number;
  /** A longer Retry-After (milliseconds) is not waited for: the answer is returned. */
  maxRetryAfter: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelay: 200, maxDelay: 10_000, maxRetryAfter: 60_000 };

export type TokenProvider = () => string | null | undefined | Promise<string | null | undefined>;
export type FetchLike = (input: Request) => Promise<Response>;

export interface SdkOptions {
  baseUrl: string;
  token?: TokenProvider;
  retry?: Partial<RetryPolicy>;
  /** The fetch that sends each attempt (default: globalThis.fetch). */
  fetch?: FetchLike;
}

/** An RFC 9457 problem+json answer (or any other 4xx/5xx), as an error. */
export class ProblemError extends Error {
  readonly status: number;
  readonly title: string;
  readonly type: string;
  readonly detail: string | undefined;
  readonly errors: unknown[];
  readonly correlationId: string | null;
  readonly retryAfter: string | null;

  constructor(response: Response, body: unknown) {
    const problem = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
    const title = typeof problem["title"] === "string" ? problem["title"] : `HTTP ${response.status}`;
    const detail = typeof problem["detail"] === "string" ? problem["detail"] : undefined;
    super(`${response.status} ${title}${detail ? `: ${detail}` : ""}`);
    this.name = "ProblemError";
    this.status = response.status;
    this.title = title;
    this.type = typeof problem["type"] === "string" ? problem["type"] : "about:blank";
    this.detail = detail;
    this.errors = Array.isArray(problem["errors"]) ? problem["errors"] : [];
    this.correlationId = response.headers.get(CORRELATION_HEADER);
    this.retryAfter = response.headers.get("Retry-After");
  }
}

export interface Answer<T> {
  value: T;
  status: number;
  correlationId: string | null;
  headers: Headers;
}

export function isIdempotentOperation(method: string, path: string): boolean {
  return IDEMPOTENT_OPERATIONS.some(([m, pattern]) => m === method && pattern.test(path));
}

/** Full jitter: a random wait in [0, min(maxDelay, baseDelay * 2 ** retry)] milliseconds. */
export function backoff(policy: RetryPolicy, retry: number): number {
  return Math.random() * Math.min(policy.maxDelay, policy.baseDelay * 2 ** retry);
}

/** Retry-After in milliseconds (delta-seconds or an HTTP date), on a 429 or a 503; null without one. */
export function retryAfter(response: Response): number | null {
  if (response.status !== 429 && response.status !== 503) return null;
  const value = response.headers.get("Retry-After")?.trim();
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, when - Date.now());
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A fetch that adds the token, the correlation id, the idempotency key and the retries. */
export function resilientFetch(options: Omit<SdkOptions, "baseUrl"> = {}): FetchLike {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const send: FetchLike = options.fetch ?? ((request) => globalThis.fetch(request));
  return async (input: Request): Promise<Response> => {
    const headers = new Headers(input.headers);
    if (!headers.has(CORRELATION_HEADER)) headers.set(CORRELATION_HEADER, crypto.randomUUID());
    const correlationId = headers.get(CORRELATION_HEADER) ?? "";
    const method = input.method.toUpperCase();
    const marked = isIdempotentOperation(method, new URL(input.url).pathname);
    if (marked && !headers.has(IDEMPOTENCY_HEADER)) headers.set(IDEMPOTENCY_HEADER, crypto.randomUUID());
    const retryable = SAFE_METHODS.has(method) || (marked && headers.has(IDEMPOTENCY_HEADER));
    const body = input.body === null ? null : await input.arrayBuffer(); // kept for the retries
    for (let retry = 0; ; retry++) {
      const attempt = new Headers(headers);
      if (options.token) {
        const token = await options.token();
        if (token) attempt.set("Authorization", `Bearer ${token}`);
        else attempt.delete("Authorization");
      }
      let response: Response | undefined;
      let failure: unknown;
      try {
        response = await send(new Request(input.url, { method, headers: attempt, body, signal: input.signal }));
      } catch (error) {
        failure = error;
      }
      const delay = retryable ? wait(policy, response, retry) : null;
      if (delay === null) {
        if (response === undefined) throw failure;
        return withCorrelation(response, correlationId);
      }
      await response?.body?.cancel();
      await sleep(delay);
    }
  };
}

function wait(policy: RetryPolicy, response: Response | undefined, retry: number): number | null {
  if (retry + 1 >= policy.attempts) return null;
  if (response !== undefined) {
    if (!RETRIED_STATUSES.has(response.status)) return null;
    const asked = retryAfter(response);
    if (asked !== null) return asked <= policy.maxRetryAfter ? asked : null;
  }
  return backoff(policy, retry);
}

function withCorrelation(response: Response, correlationId: string): Response {
  if (response.headers.has(CORRELATION_HEADER)) return response;
  const headers = new Headers(response.headers);
  headers.set(CORRELATION_HEADER, correlationId);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

export interface FollowOptions {
  timeoutMs?: number;
  onStatus?: (status: string) => void;
  /** false: poll the status instead of streaming it. */
  stream?: boolean;
}

/** One client of the API: `sdk.client` makes the calls, `sdk.call` turns their results into answers or errors. */
export class Sdk {
  readonly client: Client<paths>;
  readonly fetch: FetchLike;
  private readonly baseUrl: string;
  private readonly policy: RetryPolicy;

  constructor(options: SdkOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.fetch = resilientFetch(options);
    this.client = createClient<paths>({ baseUrl: this.baseUrl, fetch: this.fetch });
  }

  /** The answer of an openapi-fetch call; a 4xx or 5xx answer throws ProblemError. */
  async call<T>(pending: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<Answer<T>> {
    const { data, error, response } = await pending;
    if (!response.ok) throw new ProblemError(response, error);
    return {
      value: data as T,
      status: response.status,
      correlationId: response.headers.get(CORRELATION_HEADER),
      headers: response.headers,
    };
  }

  /** The final status of an asynchronous create, from its answer: read from a 201 (placed with Prefer:
   * PREFER_WAIT, the saga ended within the wait: one request in all), else followed from its Location. */
  async settle(answer: Answer<unknown>, options: FollowOptions = {}): Promise<string> {
    const location = answer.headers.get("Location");
    if (location === null) throw new Error("the answer is not that of an asynchronous operation (no Location)");
    const entry = Object.entries(FINAL_STATUSES).find(([prefix]) => location.startsWith(prefix));
    if (answer.status === 201 && entry !== undefined && typeof answer.value === "object" && answer.value !== null) {
      const status = String((answer.value as Record<string, unknown>)[STATUS_FIELDS[entry[0]] ?? "status"]);
      if (entry[1].includes(status)) {
        options.onStatus?.(status);
        return status;
      }
    }
    return this.follow(location, options);
  }

  /** Follow an accepted (202) operation to its final status; rejects with an Error after `timeoutMs`. */
  async follow(statusUrl: string, options: FollowOptions = {}): Promise<string> {
    const entry = Object.entries(FINAL_STATUSES).find(([prefix]) => statusUrl.startsWith(prefix));
    if (entry === undefined) throw new Error(`${statusUrl} is not the status of an asynchronous operation`);
    const final = new Set(entry[1]);
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    if (options.stream !== false) {
      const status = await this.followStream(statusUrl, final, deadline, options.onStatus);
      if (status !== null) return status;
    }
    return this.poll(statusUrl, final, deadline, options.onStatus);
  }

  private async followStream(
    statusUrl: string,
    final: Set<string>,
    deadline: number,
    onStatus: ((status: string) => void) | undefined,
  ): Promise<string | null> {
    const url = `${this.baseUrl}${statusUrl.replace(/\/+$/, "")}/events`;
    const signal = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
    try {
      const response = await this.fetch(new Request(url, { headers: { Accept: "text/event-stream" }, signal }));
      if (response.status !== 200 || response.body === null) return null;
      let found: string | null = null;
      const parser = createParser({
        onEvent(event) {
          if (event.event !== "status" || found !== null) return;
          const status = String((JSON.parse(event.data) as { status?: unknown }).status);
          onStatus?.(status);
          if (final.has(status)) found = status;
        },
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      while (found === null) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
      await reader.cancel();
      return found;
    } catch {
      return null; // the stream broke or is not served: polling takes over
    }
  }

  private async poll(
    statusUrl: string,
    final: Set<string>,
    deadline: number,
    onStatus: ((status: string) => void) | undefined,
  ): Promise<string> {
    let seen: string | null = null;
    for (let retry = 0; Date.now() < deadline; retry = Math.min(retry + 1, 5)) {
      const response = await this.fetch(new Request(`${this.baseUrl}${statusUrl}`));
      if (response.status >= 400 && response.status !== 404) {
        throw new ProblemError(response, await response.json().catch(() => null));
      }
      if (response.status === 200) {
        const status = String(((await response.json()) as { status?: unknown }).status);
        if (status !== seen) onStatus?.(status);
        seen = status;
        if (final.has(status)) return status;
      } else {
        await response.body?.cancel();
      }
      await sleep(Math.min(backoff(this.policy, retry) + 100, Math.max(0, deadline - Date.now())));
    }
    throw new Error(`${statusUrl} reached no final status (${[...final].sort().join(", ")})`);
  }
}

export function createSdk(options: SdkOptions): Sdk {
  return new Sdk(options);
}
