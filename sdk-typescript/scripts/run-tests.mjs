// Runs the compiled tests (build/test/*.test.js) with node:test.
//   npm test                 every test file
//   npm test -- vectors      only files whose name contains `vectors`
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dir = path.join(root, "build", "test");
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((name) => name.endsWith(".test.js"))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort()
  .map((name) => path.join(dir, name));
if (files.length === 0) {
  process.stderr.write(`no test files in ${dir} match ${filters.join(", ")}\n`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...files], { stdio: "inherit", cwd: root });
process.exit(result.status ?? 1);
