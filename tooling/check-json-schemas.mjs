// Compiles every published JSON Schema as a TypeScript service would: ajv's 2020-12 validator
// with ajv-formats, once with ajv's default options and once with `strict: true`; then
// validates every example of contracts/examples.json against its schema.
//
//   node tooling/check-json-schemas.mjs <schemas dir> <examples.json>
//
// Prints one JSON report on stdout: {"compiled": [{file, options, error}], "examples": [...]}.
// Exits 1 when a schema does not compile or an example does not validate.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const [schemasDir, examplesFile] = process.argv.slice(2);
const OPTIONS = { default: {}, strict: { strict: true } };
const EVENT_SCHEMAS = {
  'prescription.updated': 'prescription-updated.schema.json',
  'session.updated': 'session-updated.schema.json',
  'program.updated': 'program-updated.schema.json',
};

const files = (await readdir(schemasDir)).filter((name) => name.endsWith('.schema.json')).sort();
const schemas = {};
for (const file of files) schemas[file] = JSON.parse(await readFile(path.join(schemasDir, file), 'utf8'));

const compiled = [];
const validators = {};
for (const [label, options] of Object.entries(OPTIONS)) {
  for (const file of files) {
    const ajv = new Ajv2020({ ...options, allErrors: false });
    addFormats(ajv);
    try {
      const validate = ajv.compile(schemas[file]);
      if (label === 'strict') validators[file] = validate;
      compiled.push({ file, options: label, error: null });
    } catch (error) {
      compiled.push({ file, options: label, error: String(error.message ?? error) });
    }
  }
}

const examples = JSON.parse(await readFile(examplesFile, 'utf8'));
const cases = [
  ...Object.entries(examples.commands).map(([name, value]) => [`commands/${name}`, 'command.schema.json', value]),
  ...Object.entries(examples.results).map(([name, value]) => [`results/${name}`, 'command-result.schema.json', value]),
  ...Object.entries(examples.events).map(([name, value]) => [`events/${name}`, EVENT_SCHEMAS[value.type], value]),
];
const checked = cases.map(([name, file, value]) => {
  const validate = validators[file];
  if (!validate) return { name, file, errors: [`no compiled schema ${file}`] };
  const valid = validate(value);
  return {
    name,
    file,
    errors: valid ? [] : validate.errors.map((e) => `${e.instancePath || '/'} ${e.message}`),
  };
});

const report = { compiled, examples: checked };
console.log(JSON.stringify(report, null, 2));
const failed = compiled.some((c) => c.error) || checked.some((c) => c.errors.length);
process.exit(failed ? 1 : 0);
