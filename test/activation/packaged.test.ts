/**
 * The built package is self-contained: dist/ holds the shell templates beside
 * the modules that read them, so a copy of dist/ renders the same script as
 * the source tree, without reaching outside its own directory.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { renderActivationScript } from '../../scripts/lib/activation/index.js';
import { config, GITHUB_YAML, tempDir } from './fixtures.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(REPO, 'scripts/lib/activation');
const DIST = path.join(REPO, 'dist/scripts/lib/activation');

describe('packaged templates', () => {
  const t = tempDir('dk-pkg-');
  afterAll(() => {
    t.cleanup();
  });

  test('the build copies every template into dist/, byte for byte', () => {
    const templates = readdirSync(SRC).filter((n) => n.endsWith('.sh'));
    expect(templates).toContain('template.sh');
    for (const n of templates) expect(readFileSync(path.join(DIST, n), 'utf8'), n).toBe(readFileSync(path.join(SRC, n), 'utf8'));
  });

  test('a copy of dist/ alone renders the same script as the sources', () => {
    // Only dist/ and the dependencies: no scripts/ tree anywhere above it.
    const pkg = path.join(t.dir, 'pkg');
    mkdirSync(pkg);
    cpSync(path.join(REPO, 'dist/scripts'), path.join(pkg, 'dist/scripts'), { recursive: true });
    cpSync(path.join(REPO, 'package.json'), path.join(pkg, 'package.json'));
    symlinkSync(path.join(REPO, 'node_modules'), path.join(pkg, 'node_modules'));
    const yaml = path.join(t.dir, 'deploy-keys.yaml');
    writeFileSync(yaml, GITHUB_YAML);
    const out = execFileSync(process.execPath, [path.join(pkg, 'dist/scripts/cli/bin.js'), '--config', yaml, 'activation', 'web-01'], {
      encoding: 'utf8',
      cwd: t.dir,
    });
    expect(out).toBe(renderActivationScript(config(GITHUB_YAML), 'web-01'));
  });
});
