/**
 * Validates the GitHub API double's replies against GitHub's official OpenAPI
 * extract (test/fixtures/github-api/deploy-keys.openapi.json), so the
 * double cannot drift from GitHub.
 *
 * A small validator for the JSON-schema subset that file uses: type (incl.
 * integer), properties, required, items, nullable, oneOf, enum, format
 * date-time. Statuses the extract does not document for a path (401, 403,
 * 429, 5xx, 404 on list/create/delete) are checked against GitHub's
 * "Basic Error" schema taken from the same file.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RecordedResponse } from './github-api.js';

export const OPENAPI_FILE = fileURLToPath(new URL('../fixtures/github-api/deploy-keys.openapi.json', import.meta.url));

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  nullable?: boolean;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  format?: string;
  additionalProperties?: boolean | Schema;
};

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}

let spec: { paths: Record<string, Record<string, Operation>> } | undefined;

export function loadSpec(): { paths: Record<string, Record<string, Operation>> } {
  spec ??= JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as { paths: Record<string, Record<string, Operation>> };
  return spec;
}

/** GitHub's Basic Error schema, from the extract. */
function basicError(): Schema {
  const s = loadSpec().paths['/repos/{owner}/{repo}/keys/{key_id}']?.get?.responses?.['404']?.content?.['application/json']?.schema;
  if (!s) throw new Error('OpenAPI extract has no Basic Error schema');
  return s;
}

/** Problems with `value` against `schema` (empty = valid). */
export function validateSchema(schema: Schema, value: unknown, at = '$'): string[] {
  if (value === null && !schema.oneOf && !schema.anyOf) {
    return schema.nullable || schema.type === undefined ? [] : [`${at}: null not allowed`];
  }
  if (schema.oneOf) {
    const ok = schema.oneOf.filter((s) => validateSchema(s, value, at).length === 0).length;
    return ok === 1 ? [] : [`${at}: matches ${ok} of oneOf (need exactly 1)`];
  }
  if (schema.anyOf && !schema.anyOf.some((s) => validateSchema(s, value, at).length === 0)) return [`${at}: matches none of anyOf`];
  const errs: string[] = [];
  for (const s of schema.allOf ?? []) errs.push(...validateSchema(s, value, at));
  if (schema.enum && !schema.enum.includes(value)) errs.push(`${at}: ${JSON.stringify(value)} not in enum`);
  switch (schema.type) {
    case undefined:
      break;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) errs.push(`${at}: expected integer, got ${JSON.stringify(value)}`);
      break;
    case 'number':
      if (typeof value !== 'number') errs.push(`${at}: expected number`);
      break;
    case 'string':
      if (typeof value !== 'string') errs.push(`${at}: expected string, got ${typeof value}`);
      else if (schema.format === 'date-time' && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
        errs.push(`${at}: not a date-time: ${value}`);
      }
      break;
    case 'boolean':
      if (typeof value !== 'boolean') errs.push(`${at}: expected boolean`);
      break;
    case 'array':
      if (!Array.isArray(value)) errs.push(`${at}: expected array`);
      else if (schema.items) value.forEach((v, i) => errs.push(...validateSchema(schema.items!, v, `${at}[${i}]`)));
      break;
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) {
        errs.push(`${at}: expected object`);
        break;
      }
      const o = value as Record<string, unknown>;
      for (const r of schema.required ?? []) if (!(r in o)) errs.push(`${at}: missing required ${r}`);
      for (const [k, v] of Object.entries(o)) {
        const ps = schema.properties?.[k];
        if (ps) errs.push(...validateSchema(ps, v, `${at}.${k}`));
        else if (schema.additionalProperties === false) errs.push(`${at}: unexpected property ${k}`);
      }
      break;
    }
    default:
      errs.push(`${at}: unsupported schema type ${schema.type}`);
  }
  return errs;
}

/** Problems with one recorded reply of the double (empty = valid). */
export function validateResponse(r: RecordedResponse): string[] {
  const where = `${r.method} ${r.path} → ${r.status}`;
  const op = loadSpec().paths[r.route]?.[r.method.toLowerCase()];
  if (!op) return [`${where}: route not in GitHub's OpenAPI extract`];
  const documented = op.responses?.[String(r.status)];
  if (documented) {
    const content = documented.content;
    if (!content) return r.body === undefined ? [] : [`${where}: documented without a body, but the double sent one`];
    const schema = content['application/json']?.schema;
    if (!schema) return [`${where}: no application/json schema`];
    if (!/^application\/json/.test(r.headers['content-type'] ?? '')) return [`${where}: content-type is not application/json`];
    return validateSchema(schema, r.body).map((e) => `${where}: ${e}`);
  }
  if (r.status < 400) return [`${where}: success status not documented by GitHub for this operation`];
  return validateSchema(basicError(), r.body).map((e) => `${where}: ${e}`);
}

/** Problems with every reply (plus headers every GitHub reply carries). */
export function validateAll(responses: RecordedResponse[]): string[] {
  const out: string[] = [];
  for (const r of responses) {
    out.push(...validateResponse(r));
    for (const h of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-used', 'x-ratelimit-reset', 'x-ratelimit-resource']) {
      if (!(h in r.headers)) out.push(`${r.method} ${r.path} → ${r.status}: missing header ${h}`);
    }
  }
  return out;
}
