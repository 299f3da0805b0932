import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  activationDescription,
  GITHUB_HOST_KEYS,
  GITLAB_HOST_KEYS,
  insteadOfRules,
  pinsFor,
  renderActivationScript,
  shQuote,
  sshFingerprint,
  validateKnownHosts,
} from '../../scripts/lib/activation/index.js';
import { encodeKeyStream, bootstrapOverSsh, bootstrapRemoteCommand } from '../../scripts/lib/activation/run.js';
import { haveTools } from '../helpers/tools.js';
import { config, GITHUB_YAML, makeKey, tempDir } from './fixtures.js';

const OLD_GITHUB_RSA =
  'AAAAB3NzaC1yc2EAAAABIwAAAQEAq2A7hRGmdnm9tUDbO9IDSwBK6TbQa+PXYPCPy6rbTrTtw7PHkccKrpp0yVhp5HdEIcKr6pLlVDBfOLX9QUsyCOV0wzfjIJNlGEYsdlLJizHhbn2mUjvSAHQqZETYP81eFzLQNnPHt4EVVUh7VfDESU84KezmD5QlWpXLmvU31/yMf+Se8xhHTvKSCZIFImWwoG6mbUoWf9nzpIoaSjB+weqqUUmpaaasXVal72J+UX2B+2RPW3RcT0eOzQgqlJL3RKrTJvdsjE3JEAvGq3lGHSZXy28G3skua2SmVi/w4yCE6gbODqnTWlg7+wC604ydGXA8VJiS5ap43JXiUFFAaQ==';
const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const SSH_FORGE_YAML = `
known_hosts:
  - "[git.example.org]:2222 ${HOST_KEY}"
repos:
  infra:
    url: ssh://git@git.example.org:2222/srv/git/infra.git
    clone_to: /etc/infra
  nix-config:
    url: git@github.com:acme/nix-config.git
`;

describe('known_hosts pins', () => {
  test("built-in github.com keys have GitHub's published fingerprints", () => {
    expect(GITHUB_HOST_KEYS.map((k) => sshFingerprint(k.key))).toEqual([
      'SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU',
      'SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM',
      'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
    ]);
  });

  test("GitHub's pre-2023 RSA key is refused under any name", () => {
    expect(sshFingerprint(OLD_GITHUB_RSA)).toBe('SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8');
    expect(() => validateKnownHosts([`github.com ssh-rsa ${OLD_GITHUB_RSA}`])).toThrow(/pre-2023 RSA/);
    expect(() => validateKnownHosts([`mirror.example ssh-rsa ${OLD_GITHUB_RSA}`])).toThrow(/pre-2023 RSA/);
    const c = config(`known_hosts:\n  - "github.com ssh-rsa ${OLD_GITHUB_RSA}"\n${GITHUB_YAML}`);
    expect(() => renderActivationScript(c, 'web-01')).toThrow(/pre-2023 RSA/);
  });

  test('a github.com line with a key GitHub does not publish is refused', () => {
    const other = makeKey('x').publicLine.split(' ').slice(0, 2).join(' ');
    expect(() => validateKnownHosts([`github.com ${other}`])).toThrow(/not one of GitHub's published/);
    // ssh compares names case-insensitively, and so do the pins.
    expect(() => validateKnownHosts([`GitHub.COM ${other}`])).toThrow(/not one of GitHub's published/);
  });

  test("built-in gitlab.com keys have the fingerprints GitLab publishes (GitLab.com settings, SSH host keys fingerprints)", () => {
    expect(GITLAB_HOST_KEYS.map((k) => `${k.type} ${sshFingerprint(k.key)}`)).toEqual([
      'ssh-ed25519 SHA256:eUXGGm1YGsMAS7vkcx6JOJdOGHPem5gQp4taiCfCLB8',
      'ssh-rsa SHA256:ROQFvPThGrW4RuWLoL9tq9I9zJ42fK4XywyRtbOz/EQ',
      'ecdsa-sha2-nistp256 SHA256:HbW3g8zUjNSksFbqTiUWPWg2Bq1x8xdGUrliXFzSnUw',
    ]);
    expect(pinsFor([], 'GitLab.com', 22)).toEqual(GITLAB_HOST_KEYS);
    expect(pinsFor([], 'gitlab.com', 2222)).toEqual([]);
    const s = renderActivationScript(config('repos:\n  infra:\n    url: git@GitLab.com:acme/infra.git\n'), 'web-01');
    for (const k of GITLAB_HOST_KEYS) expect(s).toContain(`gitlab.com ${k.type} ${k.key}\n`);
  });

  test('a key under a built-in host name is refused in every spelling ssh would look up', () => {
    const other = makeKey('x').publicLine.split(' ').slice(0, 2).join(' ');
    for (const name of ['gitlab.com', 'GitLab.COM', '[gitlab.com]:22', 'mirror.example,GitLab.com', '[GITHUB.com]:22']) {
      expect(() => validateKnownHosts([`${name} ${other}`]), name).toThrow(/not one of (GitLab\.com's|GitHub's) published host keys/);
    }
    // GitLab's own keys under its name are fine (redundant, not harmful).
    expect(validateKnownHosts(GITLAB_HOST_KEYS.map((k) => `gitlab.com ${k.type} ${k.key}`))).toHaveLength(3);
  });

  test('hashed, wildcard, negated and marker names are refused: a pin says which host it is for', () => {
    const key = makeKey('x').publicLine.split(' ').slice(0, 2).join(' ');
    // `ssh-keygen -H` of a github.com line: ssh would use it for github.com.
    const hashed = '|1|MgzMklb/+kAA7loeemNp0B/xcuc=|dnRh4mmN4/ziDutkwRGsCTotuI4=';
    for (const name of [hashed, 'git*.com', 'github.co?', '!evil.example,github.example', 'gh.example,*']) {
      expect(() => validateKnownHosts([`${name} ${key}`]), name).toThrow(/hashed name|wildcard or negated name/);
    }
    expect(() => validateKnownHosts([`@revoked ${key}`])).toThrow(/marker/);
    expect(() => validateKnownHosts([`[host.example]:99999 ${key}`])).toThrow(/invalid port/);
    expect(() => validateKnownHosts([`host_1.example ${key}`])).toThrow(/not a host name/);
    const c = config(`known_hosts:\n  - "${hashed} ${key}"\n${GITHUB_YAML}`);
    expect(() => renderActivationScript(c, 'web-01')).toThrow(/known_hosts\[0\] has a hashed name/);
  });

  test('pins match host names case-insensitively, like ssh', () => {
    expect(pinsFor([], 'GitHub.com', 22)).toEqual(GITHUB_HOST_KEYS);
    const line = `[Git.Example.org]:2222 ${makeKey('h').publicLine.split(' ').slice(0, 2).join(' ')}`;
    expect(pinsFor(validateKnownHosts([line]), 'git.example.ORG', 2222)).toHaveLength(1);
  });

  test('a repo whose host has no pin is a render-time error naming the fix', () => {
    const c = config(`repos:\n  infra:\n    url: git@git.example.org:ops/infra.git\n`);
    expect(() => renderActivationScript(c, 'web-01')).toThrow(/no pinned host key for git\.example\.org \(repo infra\)/);
    try {
      renderActivationScript(c, 'web-01');
    } catch (e) {
      expect((e as { hint?: string }).hint).toMatch(/add a known_hosts line "git\.example\.org ssh-ed25519/);
    }
  });

  test('for port != 22 only a [host]:port line pins; a bare host line does not', () => {
    const bare = config(SSH_FORGE_YAML.replace('[git.example.org]:2222', 'git.example.org'));
    expect(() => renderActivationScript(bare, 'web-01')).toThrow(/no pinned host key for \[git\.example\.org\]:2222/);
    const s = renderActivationScript(config(SSH_FORGE_YAML), 'web-01');
    expect(s).toContain(`[git.example.org]:2222 ${HOST_KEY}\n`);
  });

  test('a malformed key blob is refused', () => {
    expect(() => validateKnownHosts(['h.example ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQAB'])).toThrow(/encoded type/);
  });
});

describe('clone_to', () => {
  // GITHUB_YAML: nix-config without clone_to, nix-secrets with /var/lib/nix-secrets.
  const cloneTo = (opts: { user?: string; home?: string }) =>
    activationDescription(config(GITHUB_YAML), 'web-01', opts).repos.map((r) => [r.name, r.cloneTo]);

  test("absent, it is <home>/<repo> of the user installed for (the NixOS module's default)", () => {
    expect(cloneTo({})).toEqual([['nix-config', '/root/nix-config'], ['nix-secrets', '/var/lib/nix-secrets']]);
    expect(cloneTo({ user: 'alice' })).toEqual([['nix-config', '/home/alice/nix-config'], ['nix-secrets', '/var/lib/nix-secrets']]);
    expect(cloneTo({ user: 'alice', home: '/srv/alice/' })).toEqual([['nix-config', '/srv/alice/nix-config'], ['nix-secrets', '/var/lib/nix-secrets']]);
    expect(cloneTo({ user: 'svc', home: '/' })[0]).toEqual(['nix-config', '/nix-config']);
  });
});

describe('per-host repos (repos.<name>.hosts)', () => {
  const yaml = GITHUB_YAML.replace('    clone_to: /var/lib/nix-secrets\n', '    clone_to: /var/lib/nix-secrets\n    hosts: [db-*]\n');

  test("a host's script and description hold only the repos the config gives it", () => {
    const c = config(yaml);
    expect(activationDescription(c, 'web-01').repos.map((r) => r.name)).toEqual(['nix-config']);
    expect(activationDescription(c, 'db-01').repos.map((r) => r.name)).toEqual(['nix-config', 'nix-secrets']);
    const web = renderActivationScript(c, 'web-01');
    expect(web).toContain('nix-config');
    expect(web).not.toContain('nix-secrets');
    expect(renderActivationScript(c, 'db-01')).toContain('nix-secrets');
  });

  test('--repo names only repos the host gets; a host no repo selects is an error naming the config', () => {
    const c = config(yaml.replace('  nix-config:\n    url: git@github.com:acme/nix-config.git\n', '  nix-config:\n    url: git@github.com:acme/nix-config.git\n    hosts: [web-*, db-*]\n'));
    expect(() => renderActivationScript(c, 'web-01', { repos: ['nix-secrets'] })).toThrow(/repo nix-secrets is not for host web-01: \/srv\/fleet\/deploy-keys\.yaml:\d+ does not select it/);
    expect(activationDescription(c, 'db-01', { repos: ['nix-secrets'] }).repos.map((r) => r.name)).toEqual(['nix-secrets']);
    expect(() => activationDescription(c, 'mail-01')).toThrow(/host mail-01 gets no repo/);
  });
});

describe('rendered script', () => {
  const script = renderActivationScript(config(SSH_FORGE_YAML), 'web-01', { insteadOf: true });

  test('header documents inputs, flags and the stdin framing', () => {
    const header = script.slice(0, script.indexOf('set -eu'));
    for (const s of ['--keys-dir', '--keys-stdin', '--root', '--insteadof', '--pull', '--no-clone', 'deploy-keys-stream v1', 'web-01', 'infra: ssh://git@git.example.org:2222/srv/git/infra.git -> /etc/infra via ssh alias git.example.org-infra', 'Exit status']) {
      expect(header).toContain(s);
    }
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(script).toMatch(/^set -eu\numask 077\n/m);
    expect(script.trimEnd().endsWith('# end of deploy-keys activation script')).toBe(true);
  });

  test('ssh config block: one alias per repo, Port only when not 22, pinned known_hosts', () => {
    const block = /DK_SSH_BLOCK='([^']*)'/.exec(script)![1]!;
    expect(block).toContain(
      [
        'Host git.example.org-infra',
        '  HostName git.example.org',
        '  Port 2222',
        '  User git',
        '  IdentityFile /root/.ssh/infra-deploy',
        '  IdentitiesOnly yes',
        '  StrictHostKeyChecking yes',
        '  UserKnownHostsFile /root/.ssh/deploy-keys_known_hosts',
        '  GlobalKnownHostsFile /dev/null',
      ].join('\n'),
    );
    expect(block).toMatch(/Host github\.com-nix-config\n {2}HostName github\.com\n {2}User git\n/);
    expect(block).not.toMatch(/accept-new|StrictHostKeyChecking no/);
    expect(block.endsWith('Host *\n# END nix-deploy-keys\n')).toBe(true);
  });

  test.runIf(haveTools('ssh'))('a later Host * cannot add host key sources to the aliases (ssh -G)', async () => {
    const block = /DK_SSH_BLOCK='([^']*)'/.exec(script)![1]!;
    const t = tempDir('dk-sshg-');
    try {
      const f = path.join(t.dir, 'config');
      writeFileSync(f, `${block}Host *\n  VerifyHostKeyDNS yes\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile ~/.ssh/known_hosts\n`);
      const { execa } = await import('execa');
      const g = (await execa('ssh', ['-F', f, '-G', 'git.example.org-infra'], { stdin: 'ignore' })).stdout;
      expect(g).toMatch(/^verifyhostkeydns false$/m);
      expect(g).toMatch(/^stricthostkeychecking true$/m);
      expect(g).toMatch(/^userknownhostsfile \/root\/\.ssh\/deploy-keys_known_hosts$/m);
      expect(g).toMatch(/^globalknownhostsfile \/dev\/null$/m);
    } finally {
      t.cleanup();
    }
  });

  test('insteadOf rules cover scp, ssh:// and https forms with and without .git', () => {
    const c = config(SSH_FORGE_YAML);
    const gh = insteadOfRules(c.repos[1]!);
    expect(gh.map((r) => `${r.base} <- ${r.value}`)).toEqual([
      'github.com-nix-config:acme/nix-config <- git@github.com:acme/nix-config',
      'github.com-nix-config:acme/nix-config <- ssh://git@github.com/acme/nix-config',
      'github.com-nix-config:acme/nix-config <- https://github.com/acme/nix-config',
      'github.com-nix-config:acme/nix-config.git <- git@github.com:acme/nix-config.git',
      'github.com-nix-config:acme/nix-config.git <- ssh://git@github.com/acme/nix-config.git',
      'github.com-nix-config:acme/nix-config.git <- https://github.com/acme/nix-config.git',
    ]);
    const infra = insteadOfRules(c.repos[0]!);
    expect(infra.map((r) => r.value)).toEqual([
      'ssh://git@git.example.org:2222/srv/git/infra',
      'ssh://git@git.example.org:2222/srv/git/infra.git',
    ]);
  });

  test('the script holds no private key material', () => {
    const k = makeKey('web-01-nix-config-deploy');
    const s = renderActivationScript(config(GITHUB_YAML), 'web-01', { publicKeys: { 'nix-config': k.publicLine } });
    expect(s).toContain(k.publicLine);
    for (const line of k.privatePem.split('\n').slice(1, -2)) expect(s).not.toContain(line);
  });

  test('values are single-quoted; newlines are refused', () => {
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
    expect(() => shQuote('a\nb')).toThrow(/newline/);
    expect(() => renderActivationScript(config(GITHUB_YAML), 'web-01', { publicKeys: { 'nix-config': 'ssh-ed25519 AAAA\nx' } })).toThrow();
    expect(() => renderActivationScript(config(GITHUB_YAML), 'Web_01')).toThrow(/host name/);
    expect(() => renderActivationScript(config(GITHUB_YAML), 'web-01', { home: "/root'x" })).toThrow(/home/);
  });
});

describe.runIf(haveTools('shellcheck'))('shellcheck -s sh', () => {
  const t = tempDir();
  afterAll(() => { t.cleanup(); });
  const cases: [string, string, Parameters<typeof renderActivationScript>[2]][] = [
    ['github only', GITHUB_YAML, {}],
    ['github with insteadOf and pull', GITHUB_YAML, { insteadOf: true, pull: true }],
    ['ssh forge with port', SSH_FORGE_YAML, {}],
    ['ssh forge with port and insteadOf, user alice', SSH_FORGE_YAML, { insteadOf: true, user: 'alice' }],
  ];
  test.each(cases)('%s', (name, yaml, opts) => {
    const f = path.join(t.dir, `${name.replace(/\W+/g, '-')}.sh`);
    writeFileSync(f, renderActivationScript(config(yaml), 'web-01', opts));
    execFileSync('shellcheck', ['-s', 'sh', '-S', 'style', f], { stdio: 'pipe' });
  });
  test('the bootstrap remote command', () => {
    const f = path.join(t.dir, 'remote.sh');
    writeFileSync(f, `#!/bin/sh\n${bootstrapRemoteCommand(1234, ['--no-clone', "it's"])}\n`);
    execFileSync('shellcheck', ['-s', 'sh', f], { stdio: 'pipe' });
  });
});

describe('bootstrap target', () => {
  test('is [user@]host or an ssh alias, never option-like; refused before anything runs', async () => {
    const keys = new Map([['nix-config', makeKey('c').privatePem]]);
    for (const target of ['-oProxyCommand=sh', 'root@-oProxyCommand=sh', 'root@', 'root@h x', '-h']) {
      await expect(bootstrapOverSsh({ script: '# end of deploy-keys activation script\n', target, keys, ssh: '/nonexistent/ssh' }), target).rejects.toThrow(/--target .* (has an invalid|must be)/);
    }
  });
});

describe('key stream framing', () => {
  test('header, key blocks, end', () => {
    const k = makeKey('c');
    const s = encodeKeyStream(new Map([['nix-config', k.privatePem]]));
    expect(s.startsWith('deploy-keys-stream v1\nkey nix-config\n-----BEGIN OPENSSH PRIVATE KEY-----\n')).toBe(true);
    expect(s.endsWith('-----END OPENSSH PRIVATE KEY-----\nend\n')).toBe(true);
  });
  test('refuses a bad name or a non-PEM key without quoting it', () => {
    expect(() => encodeKeyStream(new Map([['../x', 'k']]))).toThrow(/repo name/);
    let msg = '';
    try {
      encodeKeyStream(new Map([['a', 'SECRET-MATERIAL']]));
    } catch (e) {
      msg = String(e);
    }
    expect(msg).toMatch(/not a single unencrypted PEM block/);
    expect(msg).not.toContain('SECRET-MATERIAL');
  });
});
