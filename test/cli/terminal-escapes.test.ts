/**
 * Issue 10, finding 6: text from outside never reaches a terminal raw. Forge
 * titles, logins, timestamps and error messages, and whatever else the CLI
 * prints, go through its writers (scripts/cli/output.ts), which escape control
 * characters; colour is the only escape sequence that gets out.
 */
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { printJson, style, terminalText, TerminalWriter } from '../../scripts/cli/output.js';
import { forgeTime } from '../../scripts/lib/forge/fingerprint.js';
import { generateDeployKey } from '../../scripts/lib/keys/index.js';
import { startGithubApiDouble, type GithubApiDouble } from '../doubles/github-api.js';
import { validateAll } from '../doubles/openapi.js';
import type { AuditJson, StatusJson } from '../helpers/cli-json.js';
import { Fleet, REPOS } from '../lifecycle/world.js';

/** Retitles the window, then clears the screen: the finding would scroll away unseen. */
const EVIL = 'evil\u001b]0;PWNED\u0007\u001b[2J';
const EVIL_SHOWN = 'evil\\u001b]0;PWNED\\u0007\\u001b[2J';
/** Renders the rest of the line invisible. */
const LOGIN = 'mal\u001b[8mlory';
/** C1 CSI, line separator, right-to-left override, DEL: JSON.stringify leaves these raw. */
const JSON_RAW = '\u009b2J\u2028\u202e\u007f';

/** Every character a terminal or a line-oriented reader could act on, but newline and tab. */
function rawControls(text: string): string[] {
  return [...text.matchAll(/[^\P{Cc}\n\t]|[\u2028\u2029\ufeff\u202a-\u202e\u2066-\u2069]/gu)].map((m) => m[0]);
}

function writerOver(colour: boolean): { writer: TerminalWriter; text: () => string } {
  const target = new PassThrough();
  let text = '';
  target.on('data', (d: Buffer) => (text += d.toString()));
  return { writer: new TerminalWriter(target, colour), text: () => text };
}

describe('the CLI writers', () => {
  it('escape control characters, keep newlines and tabs', () => {
    const shown = terminalText(`${EVIL}\t${LOGIN}\r${JSON_RAW}\u0000\n`, true);
    expect(rawControls(shown)).toEqual([]);
    expect(shown).toBe(`${EVIL_SHOWN}\tmal\\u001b[8mlory\\u000d\\u009b2J\\u2028\\u202e\\u007f\\u0000\n`);
  });

  it('show colour only as marks made by style, and only on a colour stream', () => {
    expect(terminalText(`${style.red('deploy-keys:')} failed`, true)).toBe('\x1b[31mdeploy-keys:\x1b[0m failed');
    expect(terminalText(`${style.red('deploy-keys:')} failed`, false)).toBe('deploy-keys: failed');
    // SGR from outside is text, even where colour is on.
    expect(rawControls(terminalText('\x1b[8mhidden\x1b[0m', true))).toEqual([]);
  });

  it('keep --json valid, with the same values', () => {
    const { writer, text } = writerOver(false);
    const value = { title: EVIL + JSON_RAW, login: LOGIN };
    printJson(writer, value);
    expect(rawControls(text())).toEqual([]);
    expect(JSON.parse(text())).toEqual(value);
  });

  it('decode a character split between two chunks', () => {
    const { writer, text } = writerOver(false);
    const bytes = Buffer.from('é\u001b');
    writer.write(bytes.subarray(0, 1));
    writer.write(bytes.subarray(1));
    expect(text()).toBe('é\\u001b');
  });
});

describe('times from a forge', () => {
  it('are kept when they are ISO 8601, dropped otherwise', () => {
    for (const t of ['2026-01-02T03:04:05Z', '2026-01-02T03:04:05.123Z', '2026-01-02T03:04:05.123+01:00', '2026-01-02']) expect(forgeTime(t), t).toBe(t);
    for (const t of [`\u001b]0;PWNED\u0007${JSON_RAW}`, '2026-01-02T03:04:05Z\u001b[2J', '2026-13-45T00:00:00Z', 'yesterday', '', 1_700_000_000, null]) expect(forgeTime(t), String(t)).toBeUndefined();
  });
});

describe('status and audit against a forge that replies with escapes', () => {
  const TOKEN = 'ghp_malloryToken0123456789abcdef012345';
  let gh: GithubApiDouble;
  let fleet: Fleet;

  beforeEach(async () => {
    gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0 });
    gh.addRepo(REPOS['nix-config']);
    gh.addRepo(REPOS.dotfiles);
    gh.addToken(TOKEN, { login: LOGIN, adminRepos: 'all' });
    fleet = await Fleet.create(gh);
  });

  afterEach(async () => {
    // The replies carrying a tampered last_used are off the schema on purpose; everything else is on it.
    expect(validateAll(gh.responses).filter((e) => !e.includes('last_used'))).toEqual([]);
    await gh.close();
    fleet.cleanup();
  });

  it('prints titles, logins and error messages escaped, as text and as --json; a last_used that is no time is dropped', async () => {
    const made = await fleet.cli(['vm-fresh', 'web-01', '--yes'], { GH_TOKEN: TOKEN });
    expect(made.code, made.stderr).toBe(0);
    gh.seedKey(REPOS['nix-config'], { key: generateDeployKey('intruder').publicKey, title: EVIL });
    const dotfiles = fleet.forgeKeys('web-01').find((k) => k.repo === 'dotfiles')!;
    gh.touch(REPOS.dotfiles, dotfiles.id, `\u001b]0;PWNED\u0007${JSON_RAW}`);

    const status = await fleet.cli(['status']);
    const statusJson = await fleet.cli(['status', '--json']);
    const audit = await fleet.cli(['audit']);
    const auditJson = await fleet.cli(['audit', '--json']);
    gh.replyNext(1, 422, EVIL, { method: 'POST' });
    const refused = await fleet.cli(['vm-fresh', 'web-02', '--yes']);

    for (const r of [status, statusJson, audit, auditJson, refused]) {
      expect(rawControls(r.stdout + r.stderr), r.stdout + r.stderr).toEqual([]);
    }
    expect(status.code, status.stderr).toBe(0);
    expect(audit.code).toBe(1);
    expect(audit.stdout).toContain(`"${EVIL_SHOWN}"`);
    expect(audit.stdout).toContain('added by user mal\\u001b[8mlory');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`validation failed: ${EVIL_SHOWN}`);
    // Not a time: left out, as if the forge did not tell (it would go into date arithmetic and reports).
    const rows = (JSON.parse(statusJson.stdout) as StatusJson).hosts.flatMap((h) => h.rows);
    expect(rows.find((r) => r.repo === 'dotfiles' && r.slot === 'current')?.lastUsed).toBeNull();
    expect(status.stdout).not.toContain('PWNED');
    expect((JSON.parse(auditJson.stdout) as AuditJson).findings.map((f) => f.kind)).toContain('unknown-key');
  });
});
