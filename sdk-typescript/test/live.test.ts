// The SDK against a real gateway (the binary at $LICTOR_BIN) and a real
// upstream MCP server: provisioning, one intent per verdict, typed errors,
// tool calls and their denials, attenuation enforced, pagination, async
// intents, approvals, and an export verified offline with the published keys.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";

import {
  ApiError,
  ApprovalRequired,
  attenuate,
  BudgetError,
  CapabilityError,
  collect,
  ExportVerificationError,
  Gateway,
  IntentError,
  parseToken,
  PolicyError,
  unwrap,
  verifyAuditExport,
  verifyWebhook,
  WebhookVerificationError,
  type Intent,
} from "../src/index.js";
import { startGateway, type RunningGateway } from "./support/gateway.js";
import { VECTORS } from "./support/paths.js";
import { startMcpUpstream, type McpUpstream } from "./support/mcp-upstream.js";

const AGENT = "billing-bot";

interface ScenarioDocument {
  agent: { id: string };
  steps: { name: string; intent: Intent; want: { verdict: string; reasons: string[]; modified_content?: unknown } }[];
}

/** Declares each step's intent and compares the decision with `want`. */
async function runSteps(gateway: Gateway, steps: ScenarioDocument["steps"]): Promise<void> {
  for (const step of steps) {
    const decision = await gateway.declareIntent(step.intent);
    assert.equal(decision.verdict, step.want.verdict, `${step.name}: ${JSON.stringify(decision.reasons)}`);
    assert.deepEqual(
      decision.reasons.map((r) => r.code),
      step.want.reasons,
      step.name,
    );
    if (step.want.modified_content !== undefined) {
      assert.deepEqual(decision.modifications?.modified_payload.content, step.want.modified_content, step.name);
    }
  }
}

const READ: Intent = { agent: { id: AGENT, framework: "sdk-tests" }, action: { type: "access", verb: "read" } };
const REDACT: Intent = {
  agent: { id: AGENT },
  action: { type: "communicate", verb: "send", payload: { content: "Your card 4111 1111 1111 1111 was charged." } },
};
const PAY: Intent = {
  agent: { id: AGENT },
  action: { type: "transact", verb: "pay", payload: { estimated_impact: { reversible: false, financial_exposure_usd: 2500 } } },
};
const TRANSFER: Intent = {
  agent: { id: AGENT },
  action: { type: "transact", verb: "transfer", payload: { estimated_impact: { financial_exposure_usd: 25000 } } },
};

describe("against a live gateway", { timeout: 180_000 }, () => {
  let server: RunningGateway;
  let upstream: McpUpstream;
  let root: Gateway; // superadmin
  let admin: Gateway; // the tenant's admin
  let agent: Gateway; // an agent key bound to billing-bot
  let tenant: string;
  let token: string; // a capability token for billing-bot
  let tokenJti: string;
  let webhookSecret: string;

  before(async () => {
    server = await startGateway();
    upstream = await startMcpUpstream();
    root = new Gateway({ url: server.url, apiKey: server.adminKey });
    tenant = `acme-${Date.now().toString(36)}`;
    const created = await unwrap(root.api.POST("/v1/admin/tenants", { body: { id: tenant, name: "Acme Corp" } }));
    assert.equal(created.tenant.id, tenant);
    webhookSecret = created.webhook_secret;
    const adminKey = await unwrap(
      root.api.POST("/v1/admin/api-keys", { body: { tenant, environment: "live", role: "admin", name: "acme ops" } }),
    );
    admin = new Gateway({ url: server.url, apiKey: adminKey.key });
    await unwrap(admin.api.POST("/v1/agents", { body: { id: AGENT, name: "Billing bot", owner: "finance-team" } }));
    const agentKey = await unwrap(
      root.api.POST("/v1/admin/api-keys", {
        body: { tenant, environment: "live", role: "agent", name: "billing bot", agent_id: AGENT },
      }),
    );
    agent = new Gateway({ url: server.url, apiKey: agentKey.key });
    await unwrap(
      admin.api.POST("/v1/admin/upstreams", {
        body: {
          name: "bank",
          url: upstream.url,
          credential: { header: "Authorization", value: upstream.credential },
          tools: { transfer_funds: { action_type: "transact", verb: "transfer", financial_exposure_from: "/amount_usd", reversible: false } },
        },
      }),
    );
    const minted = await unwrap(admin.api.POST("/v1/admin/mint", { body: { subject: AGENT, ttl_seconds: 3600, max_calls: 100 } }));
    token = minted.token;
    tokenJti = minted.jti;
  });

  after(async () => {
    await Promise.allSettled([root?.close(), admin?.close(), agent?.close()]);
    await upstream?.close();
    await server?.stop();
  });

  describe("intents", () => {
    it("gives the shared scenario's decisions (conformance/vectors/scenarios)", async () => {
      const scenario = JSON.parse(
        readFileSync(path.join(VECTORS, "scenarios", "decisions.json"), "utf8"),
      ) as ScenarioDocument;
      assert.equal(scenario.agent.id, AGENT, "the tenant already has the scenario's agent");
      assert.ok(scenario.steps.length >= 8);
      // An unbound agent key: the scenario also names an unregistered agent.
      const key = await unwrap(
        root.api.POST("/v1/admin/api-keys", { body: { tenant, environment: "live", role: "agent", name: "scenario" } }),
      );
      const unbound = new Gateway({ url: server.url, apiKey: key.key });
      try {
        await runSteps(unbound, scenario.steps);
      } finally {
        await unbound.close();
      }
    });

    it("answers the published Intent Declaration API's example request (conformance/vectors/scenarios)", async () => {
      const scenario = JSON.parse(
        readFileSync(path.join(VECTORS, "scenarios", "published.json"), "utf8"),
      ) as ScenarioDocument & { agent: { id: string; name: string; owner: string } };
      // A tenant of its own: the scenario registers an agent.
      const own = `published-${Date.now().toString(36)}`;
      await unwrap(root.api.POST("/v1/admin/tenants", { body: { id: own, name: "Published example" } }));
      const ownAdmin = await unwrap(
        root.api.POST("/v1/admin/api-keys", { body: { tenant: own, environment: "live", role: "admin", name: "ops" } }),
      );
      const registrar = new Gateway({ url: server.url, apiKey: ownAdmin.key });
      await unwrap(registrar.api.POST("/v1/agents", { body: scenario.agent }));
      await registrar.close();
      const key = await unwrap(
        root.api.POST("/v1/admin/api-keys", { body: { tenant: own, environment: "live", role: "agent", name: "published" } }),
      );
      const unbound = new Gateway({ url: server.url, apiKey: key.key });
      try {
        // Structured content types as a JSON value.
        const example: Intent | undefined = scenario.steps[0]?.intent;
        assert.equal((example?.action.payload?.content as { channel?: string } | undefined)?.channel, "email");
        await runSteps(unbound, scenario.steps);
      } finally {
        await unbound.close();
      }
    });

    it("retries a rate-limited intent after Retry-After, and types the 429 without retries", async () => {
      const limited = `limited-${Date.now().toString(36)}`;
      await unwrap(
        root.api.POST("/v1/admin/tenants", {
          body: { id: limited, name: "Limited", rate_limits: { per_key: { per_minute: 60, burst: 1 } } },
        }),
      );
      const adminKey = await unwrap(
        root.api.POST("/v1/admin/api-keys", { body: { tenant: limited, environment: "live", role: "admin", name: "ops" } }),
      );
      const limitedAdmin = new Gateway({ url: server.url, apiKey: adminKey.key });
      await unwrap(limitedAdmin.api.POST("/v1/agents", { body: { id: AGENT, name: "Billing bot", owner: "finance-team" } }));
      const agentKey = await unwrap(
        root.api.POST("/v1/admin/api-keys", { body: { tenant: limited, environment: "live", role: "agent", name: "bot" } }),
      );
      const patient = new Gateway({ url: server.url, apiKey: agentKey.key });
      const impatient = new Gateway({ url: server.url, apiKey: agentKey.key, retry: false });
      try {
        await patient.declareIntent(READ);
        const started = Date.now();
        const decision = await patient.declareIntent(READ);
        assert.equal(decision.verdict, "approve");
        assert.ok(Date.now() - started >= 900, `retried after ${Date.now() - started} ms`);
        await assert.rejects(impatient.declareIntent(READ), (e: unknown) => ApiError.is(e, "rate_limited") && e.status === 429);
      } finally {
        await Promise.allSettled([limitedAdmin.close(), patient.close(), impatient.close()]);
      }
    });

    it("answers approve for a plain read", async () => {
      const decision = await agent.declareIntent(READ);
      assert.equal(decision.verdict, "approve", JSON.stringify(decision.reasons));
      assert.equal(decision.agent_id, AGENT);
      assert.ok(decision.audit, "a live decision is audited");
    });

    it("answers approve_modified with the card number redacted", async () => {
      const decision = await agent.declareIntent(REDACT);
      assert.equal(decision.verdict, "approve_modified", JSON.stringify(decision.reasons));
      const content = (decision.modifications?.modified_payload as { content?: string }).content ?? "";
      assert.ok(!content.includes("4111 1111 1111 1111"), content);
    });

    it("answers escalate with an approval for an irreversible payment", async () => {
      const decision = await agent.declareIntent(PAY);
      assert.equal(decision.verdict, "escalate", JSON.stringify(decision.reasons));
      assert.match(decision.approval?.approval_id ?? "", /^apr_/);
      assert.ok(decision.reasons.some((r) => r.code === "irreversible_high_value"));
    });

    it("answers block as a Decision, not an exception", async () => {
      const decision = await agent.declareIntent(TRANSFER);
      assert.equal(decision.verdict, "block");
      assert.deepEqual(
        decision.reasons.map((r) => r.code),
        ["transact_over_limit"],
      );
    });

    it("throws typed API errors keyed by error_code", async () => {
      const bad = { agent: { id: AGENT }, action: { type: "teleport", verb: "go" } } as unknown as Intent;
      await assert.rejects(agent.declareIntent(bad), (e: unknown) => {
        assert.ok(ApiError.is(e, "invalid_field"), String(e));
        assert.equal(e.status, 400);
        assert.equal(e.path, "$.intent.action.type");
        assert.match(e.requestId ?? "", /.+/);
        return true;
      });
      const stranger = new Gateway({ url: server.url, apiKey: "lictor_live_not_a_real_key_0000000000000000" });
      await assert.rejects(stranger.declareIntent(READ), (e: unknown) => ApiError.is(e, "unauthenticated") && e.status === 401);
      await assert.rejects(
        unwrap(root.api.POST("/v1/admin/tenants", { body: { id: tenant, name: "again" } })),
        (e: unknown) => ApiError.is(e, "already_exists") && e.status === 409,
      );
      await assert.rejects(
        unwrap(admin.api.GET("/v1/agents/{agent_id}", { params: { path: { agent_id: "nobody" } } })),
        (e: unknown) => ApiError.is(e, "not_found"),
      );
    });

    it("replays the original decision for a repeated Idempotency-Key", async () => {
      const first = await agent.declareIntent(READ, { idempotencyKey: "sdk-test-key-1" });
      const again = await agent.declareIntent(READ, { idempotencyKey: "sdk-test-key-1" });
      assert.equal(again.intent_id, first.intent_id);
      await assert.rejects(agent.declareIntent(PAY, { idempotencyKey: "sdk-test-key-1" }), (e: unknown) => ApiError.is(e, "idempotency_conflict"));
    });

    it("waits for an async intent's decision", async () => {
      const accepted = await agent.declareIntentAsync(READ);
      assert.match(accepted.intent_id, /^int_/);
      const decision = await agent.waitForDecision(accepted.intent_id, { timeoutMs: 30_000 });
      assert.equal(decision.intent_id, accepted.intent_id);
      assert.equal(decision.verdict, "approve");
    });

    it("delivers a signed webhook that verifyWebhook accepts, and only as sent", async () => {
      const received = new Promise<{ headers: IncomingHttpHeaders; body: Buffer }>((resolve) => {
        const receiver = createServer((request, response) => {
          const chunks: Buffer[] = [];
          request.on("data", (chunk: Buffer) => chunks.push(chunk));
          request.on("end", () => {
            response.writeHead(204).end();
            receiver.close();
            resolve({ headers: request.headers, body: Buffer.concat(chunks) });
          });
        });
        receiver.listen(0, "127.0.0.1", () => {
          const { port } = receiver.address() as AddressInfo;
          void agent.declareIntentAsync(READ, { callbackUrl: `http://127.0.0.1:${port}/hook` });
        });
      });
      const { headers, body } = await received;
      assert.equal(headers["lictor-event"], "intent.decided");
      const header = String(headers["lictor-signature"]);
      const signedAt = await verifyWebhook(webhookSecret, header, new Uint8Array(body));
      assert.ok(Math.abs(signedAt - Date.now() / 1000) < 60);
      const delivered = JSON.parse(body.toString("utf8")) as { intent_id: string; verdict: string };
      assert.equal(delivered.intent_id, headers["lictor-intent-id"]);
      assert.equal(delivered.verdict, "approve");
      // Re-serialised JSON is not what was signed.
      await assert.rejects(
        verifyWebhook(webhookSecret, header, JSON.stringify(delivered, null, 1)),
        (e: unknown) => e instanceof WebhookVerificationError && e.code === "signature_mismatch",
      );
      await assert.rejects(verifyWebhook("lictor_whsec_wrong", header, body), (e: unknown) => e instanceof WebhookVerificationError);
    });

    it("resumes an escalated intent once a human approved it, once", async () => {
      const escalated = await agent.declareIntent(PAY);
      const approvalId = escalated.approval!.approval_id;
      const human = (async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return unwrap(
          admin.api.POST("/v1/admin/approvals/{approval_id}/decide", {
            params: { path: { approval_id: approvalId } },
            body: { decision: "approve", note: "invoice checked" },
          }),
        );
      })();
      const resumed = await agent.resumeIntent(PAY, escalated, { timeoutMs: 30_000 });
      assert.equal((await human).status, "approved");
      assert.equal(resumed.verdict, "approve");
      assert.ok(resumed.reasons.some((r) => r.code === "approved_by_human"));
      const reused = await agent.declareIntent(PAY, { approvalId });
      assert.equal(reused.verdict, "block");
      assert.ok(reused.reasons.some((r) => r.code === "approval_used"));
      // The intent that opened the approval (the identical PAY declared
      // earlier while it was pending shares it) is settled by the human too.
      const opener = (await human).intent_id;
      const settled = await agent.waitForDecision(opener, { untilSettled: true, timeoutMs: 30_000 });
      assert.equal(settled.verdict, "approve");
      assert.ok(settled.reasons.some((r) => r.code === "approved_by_human"));
    });
  });

  describe("pagination", () => {
    it("iterates every page of a list", async () => {
      for (let i = 0; i < 7; i += 1) {
        await unwrap(admin.api.POST("/v1/agents", { body: { id: `pager-${i}`, name: `Pager ${i}`, owner: "tests" } }));
      }
      let pages = 0;
      const counting = new Gateway({
        url: server.url,
        apiKey: (await unwrap(root.api.POST("/v1/admin/api-keys", { body: { tenant, environment: "live", role: "admin", name: "pager" } }))).key,
        fetch: (request) => {
          if (new URL(request.url).pathname === "/v1/agents") pages += 1;
          return fetch(request);
        },
      });
      const agents = await collect(counting.list("/v1/agents", { query: { limit: 2 } }));
      const ids = agents.map((a) => a.id);
      assert.deepEqual(ids, [AGENT, ...Array.from({ length: 7 }, (_, i) => `pager-${i}`)].sort());
      assert.equal(pages, 4, "eight agents in pages of two");
      const audit = await collect(admin.list("/v1/admin/audit", { query: { limit: 5, kind: "agent_created" } }));
      assert.equal(audit.length, 8);
      assert.deepEqual(audit.map((e) => e.seq), [...audit.map((e) => e.seq)].sort((a, b) => a - b));
      // Lists under a path parameter, and another order (intents: newest first).
      const [newest] = await collect(agent.list("/v1/intents", { query: { limit: 1 } }));
      assert.ok(newest);
      const trail = await collect(admin.list("/v1/intents/{intent_id}/audit", { path: { intent_id: newest.intent_id }, query: { limit: 1 } }));
      assert.ok(trail.length >= 1);
      assert.ok(trail.every((entry) => entry.intent_id === newest.intent_id));
    });
  });

  describe("tool calls", () => {
    let tokenAgent: Gateway;

    before(() => {
      tokenAgent = new Gateway({ url: server.url, token });
    });

    after(() => tokenAgent.close());

    it("lists and calls a tool through a real upstream", async () => {
      const tools = await tokenAgent.listTools();
      assert.ok(tools.some((t) => t.name === "bank.get_balance"), JSON.stringify(tools));
      const before = upstream.calls.length;
      const result = await tokenAgent.callTool("bank.get_balance", { account: "acme" });
      assert.equal(result.isError ?? false, false);
      assert.equal(result.content[0]?.text, "balance of acme: 1234.56 USD");
      const call = upstream.calls[before]!;
      assert.equal(call.name, "get_balance");
      assert.deepEqual(call.arguments, { account: "acme" });
      assert.equal(call.authorization, upstream.credential, "the gateway presents the upstream's credential");
    });

    it("works with an agent key bound to the agent too", async () => {
      const result = await agent.callTool("bank.get_balance", { account: "key" });
      assert.equal(result.content[0]?.text, "balance of key: 1234.56 USD");
    });

    it("throws IntentError for arguments the mapping cannot read", async () => {
      await assert.rejects(tokenAgent.callTool("bank.transfer_funds", { to: "DE89" }), (e: unknown) => {
        assert.ok(e instanceof IntentError, String(e));
        assert.equal(e.code, -32011);
        assert.equal(e.reason, "invalid_arguments");
        assert.match(e.intentId, /^int_/);
        return true;
      });
    });

    it("throws PolicyError when the policy blocks", async () => {
      await assert.rejects(tokenAgent.callTool("bank.transfer_funds", { amount_usd: 25000, to: "DE89" }), (e: unknown) => {
        assert.ok(e instanceof PolicyError, String(e));
        assert.equal(e.code, -32012);
        assert.equal(e.reason, "transact_over_limit");
        assert.equal(e.verdict, "block");
        return true;
      });
    });

    it("throws ApprovalRequired, and resume() goes ahead once a human approves", async () => {
      const args = { amount_usd: 2500, to: "DE89" };
      const error = await tokenAgent.callTool("bank.transfer_funds", args).then(
        () => assert.fail("an irreversible payment above 1,000 USD must wait for a human"),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ApprovalRequired, String(error));
      assert.equal(error.code, -32014);
      assert.match(error.approvalId, /^apr_/);
      assert.equal(error.approvalStatus, "pending");
      const callsBefore = upstream.calls.length;
      setTimeout(() => {
        void admin.api.POST("/v1/admin/approvals/{approval_id}/decide", {
          params: { path: { approval_id: error.approvalId } },
          body: { decision: "approve", note: "checked" },
        });
      }, 300);
      const result = (await error.resume({ timeoutMs: 30_000 })) as { content: { text: string }[] };
      assert.equal(result.content[0]?.text, "transfer_funds done");
      assert.equal(upstream.calls.length, callsBefore + 1);
      assert.deepEqual(upstream.calls[callsBefore]!.arguments, args);
      // Used once: a second resumption is refused.
      await assert.rejects(
        tokenAgent.callTool("bank.transfer_funds", args, { approvalId: error.approvalId }),
        (e: unknown) => e instanceof ApprovalRequired && e.reason === "approval_used",
      );
    });

    it("throws ApprovalRequired with approval_rejected when the human says no", async () => {
      const args = { amount_usd: 3000, to: "FR76" };
      const error = await tokenAgent.callTool("bank.transfer_funds", args).catch((e: unknown) => e);
      assert.ok(error instanceof ApprovalRequired);
      await unwrap(
        admin.api.POST("/v1/admin/approvals/{approval_id}/decide", {
          params: { path: { approval_id: error.approvalId } },
          body: { decision: "reject", note: "no" },
        }),
      );
      await assert.rejects(error.resume({ timeoutMs: 10_000 }), (e: unknown) => e instanceof ApprovalRequired && e.reason === "approval_rejected");
    });

    it("enforces an offline attenuation: narrower tools and a call limit", async () => {
      const reader = await attenuate(token, { tools: ["bank.get_*"], maxCalls: 1, expiresIn: 600 });
      const parsed = parseToken(reader);
      assert.deepEqual(parsed.jtiChain.slice(0, 1), [tokenJti]);
      assert.equal(parsed.jtiChain.length, 2);
      const narrowed = new Gateway({ url: server.url, token: reader });
      try {
        const listed = (await narrowed.listTools()).map((t) => t.name);
        assert.deepEqual(listed, ["bank.get_balance"]);
        await assert.rejects(narrowed.callTool("bank.transfer_funds", { amount_usd: 5, to: "x" }), (e: unknown) => {
          assert.ok(e instanceof CapabilityError, String(e));
          assert.equal(e.code, -32010);
          assert.equal(e.stage, "capability");
          return true;
        });
        const ok = await narrowed.callTool("bank.get_balance", { account: "narrow" });
        assert.equal(ok.content[0]?.text, "balance of narrow: 1234.56 USD");
        await assert.rejects(narrowed.callTool("bank.get_balance", { account: "again" }), (e: unknown) => e instanceof CapabilityError);
        // The parent is unaffected by its child's limit.
        assert.equal((await tokenAgent.callTool("bank.get_balance", { account: "parent" })).isError ?? false, false);
        // And an intent (not a tool call) is outside a `tools` caveat.
        const decision = await narrowed.declareIntent(READ);
        assert.equal(decision.verdict, "block");
        assert.equal(decision.reasons[0]?.stage, "capability");
      } finally {
        await narrowed.close();
      }
    });

    it("revoking a token revokes what was attenuated from it, not its parent", async () => {
      const minted = await unwrap(admin.api.POST("/v1/admin/mint", { body: { subject: AGENT, ttl_seconds: 600 } }));
      const child = await attenuate(minted.token, { jti: "tok_sdk_child", tools: ["bank.*"] });
      const grandchild = await attenuate(child, { maxCalls: 3 });
      const asChild = new Gateway({ url: server.url, token: child });
      const asGrandchild = new Gateway({ url: server.url, token: grandchild });
      const asParent = new Gateway({ url: server.url, token: minted.token });
      try {
        await asGrandchild.callTool("bank.get_balance", { account: "before" });
        await unwrap(admin.api.POST("/v1/admin/revoke", { body: { jti: "tok_sdk_child", reason: "sdk test" } }));
        for (const revoked of [asChild, asGrandchild]) {
          await assert.rejects(revoked.callTool("bank.get_balance", { account: "after" }), (e: unknown) => {
            assert.ok(e instanceof CapabilityError, String(e));
            assert.equal(e.reason, "token_revoked");
            return true;
          });
        }
        assert.equal((await asParent.declareIntent(READ)).verdict, "approve");
        const revocations = await collect(admin.list("/v1/admin/revocations"));
        assert.ok(revocations.some((r) => r.jti === "tok_sdk_child"));
      } finally {
        await Promise.all([asChild.close(), asGrandchild.close(), asParent.close()]);
      }
    });

    it("throws BudgetError once the agent's budget is spent", async () => {
      await unwrap(admin.api.POST("/v1/agents", { body: { id: "tiny-bot", name: "Tiny", owner: "tests", budget: { max_decisions_24h: 1 } } }));
      const minted = await unwrap(admin.api.POST("/v1/admin/mint", { body: { subject: "tiny-bot", ttl_seconds: 600 } }));
      const tiny = new Gateway({ url: server.url, token: minted.token });
      try {
        await tiny.callTool("bank.get_balance", { account: "one" });
        await assert.rejects(tiny.callTool("bank.get_balance", { account: "two" }), (e: unknown) => {
          assert.ok(e instanceof BudgetError, String(e));
          assert.equal(e.code, -32013);
          assert.equal(e.stage, "budget");
          return true;
        });
      } finally {
        await tiny.close();
      }
    });
  });

  describe("audit export", () => {
    it("verifies a real export offline with the published keys, in both formats", async () => {
      const keys = await unwrap(new Gateway({ url: server.url }).api.GET("/.well-known/lictor/keys"));
      assert.ok(keys.keys.length > 0);
      for (const format of ["ndjson", "csv"] as const) {
        const { data, response } = await admin.api.GET("/v1/admin/audit/export", { params: { query: { format } }, parseAs: "stream" });
        assert.equal(response.status, 200);
        const report = await verifyAuditExport(data!, keys);
        assert.equal(report.tenant, tenant);
        assert.ok(report.entries > 20, `only ${report.entries} entries`);
        assert.match(report.rootHash, /^[0-9a-f]{64}$/);
        assert.equal(report.origin, `lictor/tenants/${tenant}`);
      }
      // One changed byte is caught.
      const { data } = await admin.api.GET("/v1/admin/audit/export", { params: { query: { format: "ndjson" } }, parseAs: "text" });
      const tampered = data!.replace('"verdict":"block"', '"verdict":"approve"');
      assert.notEqual(tampered, data);
      await assert.rejects(verifyAuditExport(tampered, keys), (e: unknown) => e instanceof ExportVerificationError && e.reason === "hash_mismatch");
    });
  });
});
