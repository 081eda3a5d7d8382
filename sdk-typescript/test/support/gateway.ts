// A real gateway for the live tests: the binary at $LICTOR_BIN (default
// <repo>/target/debug/lictor), started on a free loopback port over a
// fresh SQLite directory. Nothing is built here: build the binary first
// (`cargo build --bin lictor`).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

import { REPO_ROOT } from "./paths.js";

/** The superadmin key every test gateway gets (`lictor_admin_` and 40 characters). */
export const ADMIN_KEY = "lictor_admin_sdk_typescript_0123456789abcdefghijkl";

/** A running gateway process. */
export interface RunningGateway {
  url: string;
  adminKey: string;
  /** Everything the process wrote, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** The gateway binary the tests run. */
export function gatewayBinary(): string {
  return process.env.LICTOR_BIN ?? path.join(REPO_ROOT, "target", "debug", "lictor");
}

/** Starts `lictor serve` and waits for `lictor listening on <url>`. */
export async function startGateway(extraArgs: string[] = []): Promise<RunningGateway> {
  const binary = gatewayBinary();
  if (!existsSync(binary)) {
    throw new Error(`no gateway binary at ${binary}: run \`cargo build --bin lictor\` or set LICTOR_BIN`);
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), "lictor-sdk-ts-"));
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // Only this fixture decides the gateway's settings.
    if (name === "DATABASE_URL" || name.startsWith("LICTOR_")) continue;
    env[name] = value;
  }
  env.LICTOR_ADMIN_KEY = ADMIN_KEY;
  const args = [
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--data-dir",
    dataDir,
    "--log-level",
    "warn",
    // A loaded machine running a debug build must not turn policy
    // evaluations into time-limit blocks.
    "--policy-time-limit-ms",
    "5000",
    "--checkpoint-interval-seconds",
    "1",
    "--webhook-base-delay-ms",
    "50",
    ...extraArgs,
  ];
  const child: ChildProcess = spawn(binary, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`the gateway did not start within 30 s:\n${output}`)), 30_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      const match = /^lictor listening on (\S+)$/.exec(line.trim());
      if (match) resolve(match[1]!.replace(/\/+$/, ""));
      else reject(new Error(`unexpected first line \`${line}\`:\n${output}`));
      // Keep draining stdout so the gateway never blocks on a full pipe.
      lines.on("line", (more) => {
        output += `${more}\n`;
      });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    url,
    adminKey: ADMIN_KEY,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
