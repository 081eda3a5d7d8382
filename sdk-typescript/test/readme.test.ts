// The README's quickstart, run as written against a live gateway: the
// first ```ts block under "## Quickstart" is transpiled and executed as a
// module inside this package, so `lictor` resolves to the build.
// Every other ts/js block must at least be valid syntax.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";

import ts from "typescript";

import { Gateway, unwrap } from "../src/index.js";
import { startGateway, type RunningGateway } from "./support/gateway.js";
import { PACKAGE_ROOT } from "./support/paths.js";

const readme = readFileSync(path.join(PACKAGE_ROOT, "README.md"), "utf8");

function codeBlocks(markdown: string): { lang: string; code: string; section: string }[] {
  const blocks: { lang: string; code: string; section: string }[] = [];
  let section = "";
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!;
    if (line.startsWith("## ")) section = line.slice(3).trim();
    const open = /^```(\w+)/.exec(line);
    if (!open) continue;
    const body: string[] = [];
    for (i += 1; i < lines.length && !lines[i]!.startsWith("```"); i += 1) body.push(lines[i]!);
    blocks.push({ lang: open[1]!, code: body.join("\n"), section });
  }
  return blocks;
}

function transpile(code: string): { js: string; errors: string[] } {
  const output = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    reportDiagnostics: true,
  });
  const errors = (output.diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  return { js: output.outputText, errors };
}

describe("README", { timeout: 60_000 }, () => {
  let server: RunningGateway;

  before(async () => {
    server = await startGateway();
  });
  after(() => server?.stop());

  it("the quickstart runs against a live gateway", async () => {
    const quickstart = codeBlocks(readme).find((b) => b.section === "Quickstart" && (b.lang === "js" || b.lang === "ts"));
    assert.ok(quickstart, "no js block under ## Quickstart");
    const governed = quickstart.code.split("\n").filter((l) => l.trim() && !l.trim().startsWith("//"));
    assert.ok(governed.length <= 4, `the quickstart should be three lines plus the import:\n${quickstart.code}`);

    const root = new Gateway({ url: server.url, apiKey: server.adminKey });
    await unwrap(root.api.POST("/v1/admin/tenants", { body: { id: "quickstart", name: "Quickstart" } }));
    const admin = await unwrap(
      root.api.POST("/v1/admin/api-keys", { body: { tenant: "quickstart", environment: "live", role: "admin", name: "ops" } }),
    );
    await unwrap(
      new Gateway({ url: server.url, apiKey: admin.key }).api.POST("/v1/agents", {
        body: { id: "billing-bot", name: "Billing bot", owner: "finance-team" },
      }),
    );
    const agentKey = await unwrap(
      root.api.POST("/v1/admin/api-keys", { body: { tenant: "quickstart", environment: "live", role: "agent", name: "bot" } }),
    );

    const { js, errors } = transpile(quickstart.code);
    assert.deepEqual(errors, []);
    const dir = path.join(PACKAGE_ROOT, "build", "readme");
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, "quickstart.mjs");
    writeFileSync(file, js);
    const { stdout } = await promisify(execFile)(process.execPath, [file], {
      cwd: dir,
      env: { ...process.env, LICTOR_URL: server.url, LICTOR_API_KEY: agentKey.key },
      timeout: 30_000,
    });
    assert.equal(stdout.trim(), "approve []");
  });

  it("every other ts/js block is valid syntax", () => {
    const blocks = codeBlocks(readme).filter((b) => b.lang === "ts" || b.lang === "js");
    assert.ok(blocks.length >= 8);
    for (const block of blocks) {
      const { errors } = transpile(block.code);
      assert.deepEqual(errors, [], `${block.section}:\n${block.code}`);
    }
  });
});
