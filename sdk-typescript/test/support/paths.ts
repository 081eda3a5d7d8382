// Where the repository's shared artefacts are, from the compiled test files
// (sdk-typescript/build/test/…) or the sources alike.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("cannot find sdk-typescript/package.json");
    dir = parent;
  }
  return dir;
}

/** sdk-typescript/. */
export const PACKAGE_ROOT = findPackageRoot();
/** The repository root. */
export const REPO_ROOT = path.dirname(PACKAGE_ROOT);
/** conformance/vectors/. */
export const VECTORS = path.join(REPO_ROOT, "conformance", "vectors");
