#!/usr/bin/env node
/**
 * Generates src/sdk/wire.gen.ts, the SDK's wire types, from the JSON Schemas
 * that the `contracts` crate renders into docs/api/ (openapi.json for REST,
 * asyncapi.json for WebSocket frames and stream payloads).
 *
 *   node scripts/gen-wire.mjs          # rewrite src/sdk/wire.gen.ts
 *   node scripts/gen-wire.mjs --check  # exit 1 when the file is stale
 *
 * It understands the subset of JSON Schema 2020-12 that schemars emits for
 * the contracts: $ref, type (also as a list), const, enum, oneOf, anyOf,
 * properties/required, additionalProperties and items. Anything else is an
 * error rather than a silently loose type, so a new schema construct has to
 * be taught here before it reaches the client.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SCHEMA_FILES = ['openapi.json', 'asyncapi.json'].map((f) => join(WEB, '..', 'docs', 'api', f));
export const OUTPUT = join(WEB, 'src', 'sdk', 'wire.gen.ts');

const REF_PREFIX = '#/components/schemas/';
// Keywords that only document or constrain values TypeScript cannot express.
const IGNORED = new Set(['description', 'default', 'format', 'minimum', 'maximum', 'title', 'examples']);
const KNOWN = new Set([...IGNORED, '$ref', 'type', 'const', 'enum', 'oneOf', 'anyOf', 'properties', 'required', 'additionalProperties', 'items']);
const FORMAT_ALIAS = { uuid: 'Uuid', 'date-time': 'Timestamp' };
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** The components.schemas of every document, merged; a name defined twice must be defined alike. */
export function collectSchemas(docs) {
  const all = new Map();
  for (const [file, doc] of docs) {
    for (const [name, schema] of Object.entries(doc?.components?.schemas ?? {})) {
      const prior = all.get(name);
      if (prior && JSON.stringify(prior.schema) !== JSON.stringify(schema)) {
        throw new Error(`schema ${name} differs between ${prior.file} and ${file}`);
      }
      all.set(name, { file, schema });
    }
  }
  return new Map([...all.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, v]) => [n, v.schema]));
}

function doc(description, indent) {
  if (!description) return '';
  const lines = description.split('\n');
  if (lines.length === 1) return `${indent}/** ${lines[0].replace(/\*\//g, '*\\/')} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} *${l ? ` ${l.replace(/\*\//g, '*\\/')}` : ''}`).join('\n')}\n${indent} */\n`;
}

const literal = (v) =>
  typeof v === 'string' ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : JSON.stringify(v);
const list = (values) => {
  const flat = `[${values.map(literal).join(', ')}]`;
  return flat.length <= 80 ? flat : `[\n${values.map((v) => `  ${literal(v)},`).join('\n')}\n]`;
};

/** A union; alternatives that span lines or carry a description go one per line. */
function union(schemas, names, indent) {
  const parts = schemas.map((s) => ({ description: s.description, type: render(s, names, `${indent}    `) }));
  const unique = [...new Map(parts.map((p) => [p.type, p])).values()];
  if (unique.length === 1) return unique[0].type;
  if (unique.every((p) => !p.description && !p.type.includes('\n'))) return unique.map((p) => p.type).join(' | ');
  return unique.map((p) => `\n${doc(p.description, `${indent}  `)}${indent}  | ${p.type}`).join('');
}

function primitive(type, schema, names, indent) {
  switch (type) {
    case 'string':
      return FORMAT_ALIAS[schema.format] ?? 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      if (!schema.items) throw new Error('array without items');
      return `${wrap(render(schema.items, names, indent))}[]`;
    case 'object':
      return objectType(schema, names, indent);
    default:
      throw new Error(`unsupported type ${type}`);
  }
}

const wrap = (t) => (/^[A-Za-z0-9_$]+$/.test(t) || t.startsWith('{') ? t : `(${t})`);

function objectType(schema, names, indent) {
  const props = schema.properties ?? {};
  const keys = Object.keys(props);
  const extra = schema.additionalProperties;
  const required = new Set(schema.required ?? []);
  for (const r of required) if (!(r in props)) throw new Error(`required ${r} is not a property`);
  if (extra && typeof extra === 'object') {
    if (keys.length) throw new Error('additionalProperties beside properties');
    return `Record<string, ${render(extra, names, indent)}>`;
  }
  if (!keys.length) return 'Record<string, never>';
  const inner = `${indent}  `;
  const lines = keys.map((k) => {
    const key = IDENT.test(k) ? k : literal(k);
    const type = render(props[k], names, inner);
    return `${doc(props[k].description, inner)}${inner}${key}${required.has(k) ? '' : '?'}:${type.startsWith('\n') ? '' : ' '}${type};`;
  });
  return `{\n${lines.join('\n')}\n${indent}}`;
}

/** The TypeScript type of one schema. */
function render(schema, names, indent) {
  if (schema === true) return 'unknown';
  if (typeof schema !== 'object' || schema === null) throw new Error(`not a schema: ${literal(schema)}`);
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`unsupported keyword ${k}`);
  if (schema.$ref) {
    if (!schema.$ref.startsWith(REF_PREFIX)) throw new Error(`unsupported $ref ${schema.$ref}`);
    const beside = Object.keys(schema).filter((k) => k !== '$ref' && !IGNORED.has(k));
    if (beside.length) throw new Error(`$ref beside ${beside.join(', ')}`);
    const name = schema.$ref.slice(REF_PREFIX.length);
    if (!names.has(name)) throw new Error(`dangling $ref ${schema.$ref}`);
    return name;
  }
  if ('const' in schema) return literal(schema.const);
  if (schema.enum) return [...new Set(schema.enum.map(literal))].join(' | ');
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) {
    if (schema.oneOf && schema.anyOf) throw new Error('both oneOf and anyOf');
    const alts = union(alternatives, names, indent);
    if (!schema.properties) return alts;
    // Properties beside alternatives (a flattened enum): the value has both.
    return `${objectType(schema, names, indent)} & (${alts}${alts.startsWith('\n') ? `\n${indent}` : ''})`;
  }
  if (Array.isArray(schema.type)) return [...new Set(schema.type.map((t) => primitive(t, schema, names, indent)))].join(' | ');
  if (schema.type === 'object') return objectType(schema, names, indent);
  if (schema.type) return primitive(schema.type, schema, names, indent);
  throw new Error(`schema without a type: ${literal(schema)}`);
}

/** The string values of a schema made only of string consts and enums, else null. */
function stringValues(schema) {
  if (typeof schema.const === 'string') return [schema.const];
  if (Array.isArray(schema.enum) && schema.enum.every((v) => typeof v === 'string')) return schema.enum;
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (!alternatives) return null;
  const values = alternatives.map(stringValues);
  return values.every(Boolean) ? values.flat() : null;
}

/** The `type` tags of a oneOf whose every variant is an object with a `type` const, else null. */
function tags(schema) {
  if (!schema.oneOf) return null;
  const values = schema.oneOf.map((v) => v.properties?.type?.const);
  return values.every((t) => typeof t === 'string') ? values : null;
}

export function renderWire(docs, sources) {
  const schemas = collectSchemas(docs);
  const names = new Set(schemas.keys());
  let out =
    '// Generated by web/scripts/gen-wire.mjs from ' +
    sources.join(' and ') +
    ' (rendered from the `contracts` crate).\n' +
    '// Do not edit: change the Rust types, run `UPDATE_SCHEMAS=1 cargo test -p parley-contracts`,\n' +
    '// then `npm run gen:wire` in web/. `npm test` fails while this file is stale.\n\n' +
    '/** A UUID in its canonical text form. */\nexport type Uuid = string;\n' +
    '/** RFC 3339 timestamp in UTC. */\nexport type Timestamp = string;\n';
  for (const [name, schema] of schemas) {
    out += '\n';
    try {
      const body = render(schema, names, '');
      const isInterface = schema.type === 'object' && !schema.oneOf && !schema.anyOf && body.startsWith('{');
      out += doc(schema.description, '');
      out += isInterface
        ? `export interface ${name} ${body}\n`
        : `export type ${name} =${body.startsWith('\n') ? '' : ' '}${body};\n`;
      const values = stringValues(schema);
      if (values) out += `\n/** Every value of {@link ${name}}. */\nexport const ${name}Values = ${list(values)} as const;\n`;
      const types = tags(schema);
      if (types) out += `\n/** The \`type\` of every {@link ${name}}. */\nexport const ${name}Types = ${list(types)} as const;\n`;
    } catch (e) {
      throw new Error(`${name}: ${e.message}`);
    }
  }
  return out;
}

/** The generated file for the schemas now on disk. */
export function renderFromDisk() {
  const docs = SCHEMA_FILES.map((f) => [f, JSON.parse(readFileSync(f, 'utf8'))]);
  return renderWire(docs, ['docs/api/openapi.json', 'docs/api/asyncapi.json']);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = renderFromDisk();
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(OUTPUT, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== text) {
      console.error('src/sdk/wire.gen.ts is stale: run `npm run gen:wire`');
      process.exit(1);
    }
  } else {
    writeFileSync(OUTPUT, text);
  }
}
