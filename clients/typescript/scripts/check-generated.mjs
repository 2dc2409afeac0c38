// Fails when src/generated/openapi.ts is stale: regenerates the types from ../openapi.json
// (the API document, written by `klaxon openapi` and committed) and compares them with the committed file.
// Run by `npm test` (and alone as `npm run check-generated`). Fix a failure with `npm run generate`.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { generateTypes } from "./generate.mjs";

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const documentPath = resolve(packageRoot, "../openapi.json");
const committedPath = resolve(packageRoot, "src/generated/openapi.ts");

if (!existsSync(documentPath)) {
  console.error(`check-generated: ${documentPath} is missing (it is written by \`klaxon openapi\` and committed)`);
  process.exit(1);
}
const regenerated = await generateTypes(documentPath);
const committed = await readFile(committedPath, "utf8");
if (regenerated !== committed) {
  console.error(`check-generated: ${committedPath} is stale against ${documentPath}; run \`npm run generate\` and commit the result`);
  process.exit(1);
}
console.log("check-generated: src/generated/openapi.ts matches ../openapi.json");
