/**
 * Validates the GitHub API double's replies against GitHub's official OpenAPI
 * extract (test/fixtures/github-api/deploy-keys.openapi.json), so the
 * double cannot drift from GitHub.
 *
 * The schema subset is checked by schema.ts. Statuses the extract does not
 * document for a path (401, 403, 429, 5xx, 404 on list/create/delete) are
 * checked against GitHub's "Basic Error" schema taken from the same file.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RecordedResponse } from './http-double.js';
import { validateSchema, type Schema } from './schema.js';


export const OPENAPI_FILE = fileURLToPath(new URL('../fixtures/github-api/deploy-keys.openapi.json', import.meta.url));

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
    if (!(r.headers['content-type'] ?? '').startsWith('application/json')) return [`${where}: content-type is not application/json`];
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
