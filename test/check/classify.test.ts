/** What a failed probe means, from the messages OpenSSH, git and the forges print. */
import { describe, expect, it } from 'vitest';
import { classifyProbe } from '../../scripts/lib/check/index.js';

const GIT_TAIL = 'fatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n';
const run = (stderr: string, exitCode = 128, timedOut = false) => classifyProbe({ exitCode, stderr, timedOut });

describe('classifyProbe', () => {
  it('ok only on exit 0', () => {
    expect(run('', 0)).toEqual({ status: 'ok', transient: false, detail: '' });
  });

  it('a changed host key, in each of the forms ssh reports it, is never transient', () => {
    const changed = '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\nHost key verification failed.\n';
    const otherType = 'No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.\n';
    for (const s of [changed, otherType]) {
      const o = run(s + GIT_TAIL);
      expect([o.status, o.transient]).toEqual(['host-key', false]);
    }
  });

  it('authentication failures are not transient and keep ssh\'s line', () => {
    const o = run(`git@127.0.0.1: Permission denied (publickey).\n${GIT_TAIL}`);
    expect(o).toEqual({ status: 'auth', transient: false, detail: 'git@127.0.0.1: Permission denied (publickey).' });
  });

  it('connection-level failures are transient', () => {
    for (const s of [
      'ssh: connect to host 127.0.0.1 port 2222: Connection refused',
      'ssh: connect to host 10.0.0.1 port 22: Connection timed out',
      'ssh: connect to host 10.0.0.1 port 22: No route to host',
      'ssh: connect to host 10.0.0.1 port 22: Network is unreachable',
      'ssh: Could not resolve hostname git.example: Temporary failure in name resolution',
      'kex_exchange_identification: read: Connection reset by peer',
      'Connection closed by 127.0.0.1 port 2222',
    ]) {
      const o = run(`${s}\n${GIT_TAIL}`);
      expect([o.status, o.transient, o.detail], s).toEqual(['unreachable', true, s]);
    }
    expect(run('', 1, true)).toMatchObject({ status: 'unreachable', transient: true });
  });

  it('a repo the key cannot read, as GitHub, GitLab, git and the ssh provider say it', () => {
    for (const s of [
      'ERROR: Repository not found.',
      'remote: ERROR: The project you were looking for could not be found or you don\'t have permission to view it.',
      "fatal: '/srv/acme/x.git' does not appear to be a git repository",
      'nix-deploy-keys: refused: this deploy key may only fetch /srv/acme/y.git',
    ]) {
      expect(run(`${s}\n${GIT_TAIL}`), s).toEqual({ status: 'repo', transient: false, detail: s });
    }
  });

  it('anything else is an error with the telling line, escaped and bounded', () => {
    const o = run(`\x1b]0;PWNED\x07weird ${'x'.repeat(500)}\n${GIT_TAIL}`);
    expect(o.status).toBe('error');
    expect(o.transient).toBe(false);
    expect(o.detail).not.toMatch(/\p{Cc}/u);
    expect(o.detail.length).toBeLessThan(320);
    expect(run(GIT_TAIL).detail).toBe('fatal: Could not read from remote repository.');
    expect(run('', 128).detail).toBe('exit status 128');
  });
});
