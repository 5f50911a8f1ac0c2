/**
 * The LLM client against real servers on 127.0.0.1 port 0 that speak
 * Ollama's and OpenAI's chat wire formats.
 *
 * @module
 */

import assert from "node:assert/strict";
import { PolicyError, UpstreamError } from "../errors.ts";
import { ERROR_EXCERPT_CHARS, LlmClient, type LlmEndpoint } from "./mod.ts";

/** The error `fn` rejects with, checked to be a `cls`. */
async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  cls: new (...args: never[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof cls, String(error));
    return error;
  }
  throw new assert.AssertionError({ message: "Expected a rejection" });
}

function assertStringIncludes(text: string, part: string): void {
  assert.ok(
    text.includes(part),
    `${JSON.stringify(text)} does not include ${JSON.stringify(part)}`,
  );
}

const LOOPBACK = ["127.0.0.0/8"];

interface Seen {
  path: string;
  body: Record<string, unknown>;
  authorization: string | null;
}

/** A chat server answering `answer(seen)`; every request is kept in `seen`. */
async function withServer(
  answer: (seen: Seen) => Response,
  run: (origin: string, seen: Seen[]) => Promise<void>,
): Promise<void> {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const s: Seen = {
      path: new URL(req.url).pathname,
      body: await req.json(),
      authorization: req.headers.get("authorization"),
    };
    seen.push(s);
    return answer(s);
  });
  try {
    await run(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

async function chatOnce(endpoint: LlmEndpoint, apiKey?: string) {
  const llm = new LlmClient(endpoint);
  try {
    return await llm.chat([{ role: "system", content: "Be brief" }, {
      role: "user",
      content: "Hello",
    }], { signal: AbortSignal.timeout(10_000), temperature: 0.2, apiKey });
  } finally {
    llm.close();
  }
}

Deno.test("llm client refuses a loopback endpoint that allowNetworks does not name", async () => {
  await withServer(() => Response.json({}), async (origin, seen) => {
    const error = await assertRejects(
      () => chatOnce({ provider: "ollama", baseUrl: origin, model: "m" }),
      PolicyError,
    );
    assertStringIncludes(error.message, "LLM endpoint refused");
    assert.deepEqual(seen.length, 0);
  });
});

Deno.test("llm client speaks Ollama's /api/chat", async () => {
  await withServer(
    () =>
      Response.json({
        model: "llama3.2",
        message: { role: "assistant", content: "Hi there" },
        prompt_eval_count: 12,
        eval_count: 3,
        done: true,
      }),
    async (origin, seen) => {
      const llm = new LlmClient({
        provider: "ollama",
        baseUrl: `${origin}/`,
        model: "llama3.2",
        allowNetworks: LOOPBACK,
      });
      try {
        const schema = { type: "object", properties: { a: { type: "string" } } };
        const answer = await llm.chat([{ role: "user", content: "Hello" }], {
          signal: AbortSignal.timeout(10_000),
          temperature: 0,
          jsonSchema: schema,
        });
        assert.deepEqual(answer, {
          text: "Hi there",
          model: "llama3.2",
          promptTokens: 12,
          completionTokens: 3,
        });
        assert.deepEqual(seen[0].path, "/api/chat");
        assert.deepEqual(seen[0].body, {
          model: "llama3.2",
          messages: [{ role: "user", content: "Hello" }],
          stream: false,
          format: schema,
          options: { temperature: 0 },
        });
      } finally {
        llm.close();
      }
    },
  );
});

Deno.test("llm client speaks OpenAI's /v1/chat/completions with a bearer key", async () => {
  await withServer(
    () =>
      Response.json({
        model: "gpt-x",
        choices: [{ index: 0, message: { role: "assistant", content: "Done" } }],
        usage: { prompt_tokens: 20, completion_tokens: 1 },
      }),
    async (origin, seen) => {
      const answer = await chatOnce(
        { provider: "openai", baseUrl: origin, model: "gpt-x", allowNetworks: LOOPBACK },
        "sk-test-key",
      );
      assert.deepEqual(answer, {
        text: "Done",
        model: "gpt-x",
        promptTokens: 20,
        completionTokens: 1,
      });
      assert.deepEqual(seen[0].path, "/v1/chat/completions");
      assert.deepEqual(seen[0].authorization, "Bearer sk-test-key");
      assert.deepEqual(seen[0].body.temperature, 0.2);
      assert.deepEqual(seen[0].body.model, "gpt-x");
      assert.ok(!("response_format" in seen[0].body));
    },
  );
});

Deno.test("llm client sends OpenAI's json_schema response_format", async () => {
  await withServer(
    () => Response.json({ choices: [{ message: { content: "{}" } }] }),
    async (origin, seen) => {
      const llm = new LlmClient({
        provider: "openai",
        baseUrl: origin,
        model: "m",
        allowNetworks: LOOPBACK,
      });
      try {
        const schema = { type: "object" };
        const answer = await llm.chat([{ role: "user", content: "x" }], {
          signal: AbortSignal.timeout(10_000),
          jsonSchema: schema,
        });
        assert.deepEqual(answer, { text: "{}", model: "m" });
        assert.deepEqual(seen[0].body.response_format, {
          type: "json_schema",
          json_schema: { name: "answer", schema, strict: true },
        });
        assert.deepEqual(seen[0].authorization, null);
      } finally {
        llm.close();
      }
    },
  );
});

Deno.test("llm client names the origin when no server answers", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(),
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  await server.shutdown();
  const error = await assertRejects(
    () => chatOnce({ provider: "ollama", baseUrl: origin, model: "m", allowNetworks: LOOPBACK }),
    UpstreamError,
  );
  assert.deepEqual(error.message, `No LLM server answered at ${origin}`);
});

Deno.test("llm client shows a bounded excerpt of an error status, without the key", async () => {
  const key = "sk-secret-value-123";
  await withServer(
    (seen) => new Response(`bad key ${seen.authorization}\n${"x".repeat(5000)}`, { status: 401 }),
    async (origin) => {
      const error = await assertRejects(
        () =>
          chatOnce(
            { provider: "openai", baseUrl: origin, model: "m", allowNetworks: LOOPBACK },
            key,
          ),
        UpstreamError,
      );
      assertStringIncludes(error.message, `LLM server at ${origin} answered 401: bad key Bearer`);
      assert.ok(!error.message.includes(key), error.message);
      assert.ok(error.message.length < ERROR_EXCERPT_CHARS + 100, `${error.message.length}`);
    },
  );
});

Deno.test("llm client refuses a body that is not JSON, and one without content", async () => {
  let reply = "not json";
  await withServer(() => new Response(reply), async (origin) => {
    const endpoint: LlmEndpoint = {
      provider: "ollama",
      baseUrl: origin,
      model: "m",
      allowNetworks: LOOPBACK,
    };
    const notJson = await assertRejects(() => chatOnce(endpoint), UpstreamError);
    assert.deepEqual(notJson.message, `LLM server at ${origin} sent a body that is not JSON`);
    reply = JSON.stringify({ message: { role: "assistant" } });
    const empty = await assertRejects(() => chatOnce(endpoint), UpstreamError);
    assert.deepEqual(
      empty.message,
      `LLM server at ${origin} sent no message.content in its answer`,
    );
    reply = JSON.stringify({ choices: [] });
    const none = await assertRejects(
      () => chatOnce({ ...endpoint, provider: "openai" }),
      UpstreamError,
    );
    assertStringIncludes(none.message, "no choices[0].message.content");
  });
});

Deno.test("llm client ends at its deadline as a timeout", async () => {
  const never = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    await never.promise;
    return new Response("{}");
  });
  try {
    const llm = new LlmClient({
      provider: "ollama",
      baseUrl: `http://127.0.0.1:${server.addr.port}`,
      model: "m",
      allowNetworks: LOOPBACK,
    });
    try {
      const error = await assertRejects(
        () => llm.chat([{ role: "user", content: "x" }], { signal: AbortSignal.timeout(100) }),
        UpstreamError,
      );
      assert.deepEqual(error.code, "UPSTREAM_TIMEOUT");
    } finally {
      llm.close();
    }
  } finally {
    never.resolve();
    await server.shutdown();
  }
});
