/**
 * nix/lib.nix without nixpkgs: parse every .nix file, evaluate the pure
 * helpers, and check that the Nix renderer emits the very same script as the
 * TypeScript one (the module's single source of truth). The module itself is
 * evaluated with the real nixpkgs lib and sops-nix in module.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { activationDescription, renderActivationScript, type ActivationOptions } from '../../scripts/lib/activation/index.js';
import type { Config } from '../../scripts/lib/config/index.js';
import { config, makeKey, tempDir } from '../activation/fixtures.js';
import { haveTools } from '../helpers/tools.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const LIB = path.join(REPO, 'nix/lib.nix');
const OLD_GITHUB_RSA =
  'AAAAB3NzaC1yc2EAAAABIwAAAQEAq2A7hRGmdnm9tUDbO9IDSwBK6TbQa+PXYPCPy6rbTrTtw7PHkccKrpp0yVhp5HdEIcKr6pLlVDBfOLX9QUsyCOV0wzfjIJNlGEYsdlLJizHhbn2mUjvSAHQqZETYP81eFzLQNnPHt4EVVUh7VfDESU84KezmD5QlWpXLmvU31/yMf+Se8xhHTvKSCZIFImWwoG6mbUoWf9nzpIoaSjB+weqqUUmpaaasXVal72J+UX2B+2RPW3RcT0eOzQgqlJL3RKrTJvdsjE3JEAvGq3lGHSZXy28G3skua2SmVi/w4yCE6gbODqnTWlg7+wC604ydGXA8VJiS5ap43JXiUFFAaQ==';

// `--store dummy://`: no daemon and no store writes, also as non-root.
function nix(args: string[]): string {
  return execFileSync('nix-instantiate', ['--store', 'dummy://', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function nixEval(expr: string): unknown {
  return JSON.parse(nix(['--eval', '--strict', '--json', '-E', `let lib = import ${LIB}; in ${expr}`]));
}

describe.runIf(haveTools('nix-instantiate'))('nix files', () => {
  const t = tempDir('dk-nix-');
  afterAll(() => t.cleanup());

  const nixFiles = [
    path.join(REPO, 'flake.nix'),
    ...['nix', 'test/nix'].flatMap((dir) =>
      readdirSync(path.join(REPO, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.nix'))
        .map((f) => path.join(REPO, dir, f)),
    ),
  ];
  test.each(nixFiles.map((f) => [path.relative(REPO, f), f]))('%s parses', (_, f) => {
    nix(['--parse', f]);
  });

  test('parseUrl, alias, knownHostsName', () => {
    expect(nixEval('lib.parseUrl "ssh://git@[::1]:2222/srv/git/x.git"')).toEqual({
      raw: 'ssh://git@[::1]:2222/srv/git/x.git',
      user: 'git',
      host: '::1',
      port: 2222,
      path: '/srv/git/x.git',
    });
    expect(nixEval('lib.parseUrl "https://github.com/a/b"')).toMatch(/is neither/);
    expect(nixEval('lib.parseUrl "git@github.com:a/../b"')).toBe('has an invalid path');
    expect(nixEval('lib.alias "nix-config" (lib.parseUrl "git@github.com:acme/nix-config.git")')).toBe('github.com-nix-config');
    expect(nixEval('lib.alias "x" (lib.parseUrl "ssh://git@[::1]:22/a/x")')).toBe('__1-x');
    expect(nixEval('[ (lib.knownHostsName "h" 22) (lib.knownHostsName "h" 2222) ]')).toEqual(['h', '[h]:2222']);
    expect(nixEval(`lib.shQuote "it's"`)).toBe(`'it'\\''s'`);
  });

  test('pins: built-in github.com, [host]:port only for that port, refusals', () => {
    expect(nixEval('map (k: k.type) (lib.pinsFor [ ] "github.com" 22)')).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa']);
    const line = '[git.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    expect(nixEval(`builtins.length (lib.pinsFor [ "${line}" ] "git.example.org" 2222)`)).toBe(1);
    expect(nixEval(`lib.pinsFor [ "${line}" ] "git.example.org" 22`)).toEqual([]);
    const problems = nixEval(
      `lib.problems { host = "web-01"; user = "root"; home = "/root"; knownHosts = [ "github.com ssh-rsa ${OLD_GITHUB_RSA}" ]; repos = [ { name = "Bad"; url = "git@git.example.org:a/b.git"; cloneTo = "/x"; } ]; }`,
    ) as string[];
    expect(problems.join('\n')).toMatch(/pre-2023 RSA/);
    expect(problems.join('\n')).toMatch(/repo name "Bad"/);
    expect(problems.join('\n')).toMatch(/no pinned host key for git\.example\.org; add a known_hosts line/);
  });

  test('pins: built-in gitlab.com, names compared lowercase, only plain names', () => {
    const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    expect(nixEval('map (k: k.type) (lib.pinsFor [ ] "GitLab.com" 22)')).toEqual(['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256']);
    expect(nixEval('(lib.parseUrl "git@GitLab.COM:a/b.git").host')).toBe('gitlab.com');
    const problem = (line: string) => nixEval(`lib.knownHostsLineProblem 0 ${JSON.stringify(line)}`) as string | null;
    for (const name of ['GitLab.com', '[gitlab.com]:22', 'x.example,gitlab.com']) {
      expect(problem(`${name} ${HOST_KEY}`), name).toMatch(/pins a key for gitlab\.com that is not one of GitLab\.com's published host keys/);
    }
    for (const name of ['|1|MgzMklb/+kAA7loeemNp0B/xcuc=|dnRh4mmN4/ziDutkwRGsCTotuI4=', 'git*.com', '!a.example', '[a.example]:99999']) {
      expect(problem(`${name} ${HOST_KEY}`), name).toMatch(/not a plain host or \[host\]:port/);
    }
    expect(problem(`[Git.Example.org]:2222 ${HOST_KEY}`)).toBeNull();
    expect(nixEval(`builtins.length (lib.pinsFor [ "[Git.Example.org]:2222 ${HOST_KEY}" ] "git.example.ORG" 2222)`)).toBe(1);
  });

  // Same inputs to both renderers (both list repos by name, whatever the input's order).
  const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
  const cases: [string, string, ActivationOptions][] = [
    ['github only', 'repos:\n  a-repo:\n    url: git@github.com:acme/a-repo.git\n  nix-config:\n    url: git@github.com:acme/nix-config.git\n    clone_to: /etc/nixos\n', {}],
    [
      'ssh forge with port, insteadOf, pull, user alice, public keys',
      `known_hosts:\n  - "[git.example.org]:2222 ${HOST_KEY}"\n  - "other.example ${HOST_KEY}"\nrepos:\n  infra:\n    url: ssh://git@git.example.org:2222/srv/git/infra.git\n    clone_to: /home/alice/infra\n  nix-config:\n    url: ssh://git@github.com/acme/nix-config\n    clone_to: /home/alice/nix-config\n`,
      { insteadOf: true, pull: true, user: 'alice', home: '/home/alice', publicKeys: { infra: makeKey('web-01-infra-deploy').publicLine } },
    ],
    [
      'mixed-case host, trailing slash, git ssh off, home /',
      'repos:\n  infra:\n    url: ssh://git@GitHub.com/Acme/Infra.git/\n    clone_to: /srv/infra\n',
      { gitSsh: false, user: 'svc', home: '/' },
    ],
  ];
  test.each(cases)('TS and Nix render the same script: %s', (name, yaml, opts) => {
    const c: Config = config(yaml);
    const ts = renderActivationScript(c, 'web-01', opts);
    const desc = activationDescription(c, 'web-01', opts);
    const f = path.join(t.dir, `${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(f, JSON.stringify(desc));
    const fromNix = nixEval(`lib.renderScript (builtins.fromJSON (builtins.readFile ${f}))`);
    expect(fromNix).toBe(ts);
  });

  test('one canonical repo order: by name, whatever order deploy-keys.yaml or the description uses', () => {
    const repo = (name: string, url: string) => `  ${name}:\n    url: ${url}\n    clone_to: /srv/${name}\n`;
    const infra = repo('infra', 'ssh://git@git.example.org:2222/srv/git/infra.git');
    const nixConfig = repo('nix-config', 'git@github.com:acme/nix-config.git');
    const head = `known_hosts:\n  - "[git.example.org]:2222 ${HOST_KEY}"\nrepos:\n`;
    const unsorted = config(head + nixConfig + infra);
    const ts = renderActivationScript(unsorted, 'web-01');
    expect(ts).toBe(renderActivationScript(config(head + infra + nixConfig), 'web-01'));
    expect(ts.indexOf("'infra' ")).toBeLessThan(ts.indexOf("'nix-config' "));
    const desc = activationDescription(unsorted, 'web-01');
    expect(desc.repos.map((r) => r.name)).toEqual(['infra', 'nix-config']);
    // A description listing them the other way round (hand-written) renders the same script.
    const f = path.join(t.dir, 'unsorted.json');
    writeFileSync(f, JSON.stringify({ ...desc, repos: [...desc.repos].reverse() }));
    expect(nixEval(`lib.renderScript (builtins.fromJSON (builtins.readFile ${f}))`)).toBe(ts);
  });

  test('renderScript throws every problem at once', () => {
    expect(() => nixEval('lib.renderScript { host = "web-01"; user = "root"; home = "/root/"; repos = [ { name = "x"; url = "git@git.example.org:a/b.git"; cloneTo = "/x"; } ]; }')).toThrow(
      /home "\/root\/" must be an absolute path without a trailing slash; repo x: no pinned host key for git\.example\.org/,
    );
  });
});
