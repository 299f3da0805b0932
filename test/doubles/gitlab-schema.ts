/**
 * Validates the GitLab double's replies against the description derived from
 * GitLab's documentation (test/fixtures/gitlab-api/deploy-keys.schema.json),
 * so the double cannot drift from what GitLab documents; `validateExamples()`
 * checks that description against the replies GitLab's docs quote.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RecordedResponse } from './http-double.js';
import { validateSchema, type Schema } from './schema.js';

export const GITLAB_SCHEMA_FILE = fileURLToPath(new URL('../fixtures/gitlab-api/deploy-keys.schema.json', import.meta.url));

interface Description {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>>;
  rateLimited: { status: number; contentType: string; body: string; headers: string[] };
  pagination: { headers: string[] };
  examples: { from: string; route: string; method: string; status: number; body: unknown }[];
}

let description: Description | undefined;
function load(): Description {
  description ??= JSON.parse(readFileSync(GITLAB_SCHEMA_FILE, 'utf8')) as Description;
  return description;
}

function check(route: string, method: string, status: number, body: unknown, contentType: string | undefined, where: string): string[] {
  const op = load().paths[route]?.[method.toLowerCase()];
  if (!op) return [`${where}: route not in GitLab's description`];
  const documented = op.responses[String(status)];
  if (!documented) return status >= 500 ? [] : [`${where}: status not documented by GitLab for this operation`];
  const schema = documented.content?.['application/json']?.schema;
  if (!schema) return body === undefined ? [] : [`${where}: documented without a body, but one was sent`];
  if (contentType !== undefined && !contentType.startsWith('application/json')) return [`${where}: content-type is not application/json`];
  return validateSchema(schema, body).map((e) => `${where}: ${e}`);
}

/** Problems with every reply of the double (empty = valid). */
export function validateGitlabResponses(responses: RecordedResponse[]): string[] {
  const d = load();
  const out: string[] = [];
  for (const r of responses) {
    const where = `${r.method} ${r.path} → ${r.status}`;
    if (r.status === d.rateLimited.status) {
      if (r.headers['content-type'] !== d.rateLimited.contentType || r.body !== d.rateLimited.body) out.push(`${where}: not GitLab's "Retry later" reply`);
      for (const h of d.rateLimited.headers) if (!(h in r.headers)) out.push(`${where}: missing header ${h}`);
      continue;
    }
    out.push(...check(r.route, r.method, r.status, r.body, r.headers['content-type'], where));
    for (const h of d.rateLimited.headers.filter((x) => x.startsWith('ratelimit-'))) if (!(h in r.headers)) out.push(`${where}: missing header ${h}`);
    if (r.route === '/projects/{id}/deploy_keys' && r.method === 'GET' && r.status === 200) {
      for (const h of d.pagination.headers) if (!(h in r.headers)) out.push(`${where}: missing pagination header ${h}`);
    }
  }
  return out;
}

/** Problems of the description with the replies GitLab's docs quote (empty = consistent). */
export function validateExamples(): string[] {
  return load().examples.flatMap((x) => check(x.route, x.method, x.status, x.body, undefined, `example "${x.from}"`));
}
