// Rewrites tooling/package-lock.json without anything that names a host: npm writes it with
// `--omit-lockfile-registry-resolved` (no `resolved` URLs; `npm ci` fetches from whatever
// registry is configured and checks each `integrity` hash), and this drops the `funding` URLs.
// Fails if any other URL is left (a git or tarball dependency would need one).
//
//   npm install --package-lock-only --omit-lockfile-registry-resolved --ignore-scripts
//   node lockfile.mjs          (both: `make tooling-lock`)
import { readFile, writeFile } from 'node:fs/promises';

const file = new URL('./package-lock.json', import.meta.url);
const lock = JSON.parse(await readFile(file, 'utf8'));
for (const entry of Object.values(lock.packages ?? {})) delete entry.funding;
const text = `${JSON.stringify(lock, null, 2)}\n`;
const urls = text.match(/[a-z+]+:\/\/[^"\s]+/gi) ?? [];
if (urls.length) {
  console.error(`package-lock.json still names hosts: ${[...new Set(urls)].join(', ')}`);
  process.exit(1);
}
await writeFile(file, text);
console.log('package-lock.json: no host names, integrity hashes kept');
