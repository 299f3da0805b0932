import { describe, expect, it } from 'vitest';
import { parsePublicKey } from '../../scripts/lib/keys/index.js';

// GitHub's host keys and fingerprints as published on docs.github.com
// ("GitHub's SSH key fingerprints"), the entries hosts pin in known_hosts.
const GITHUB = [
  {
    line: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
    fingerprint: 'SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU',
    type: 'ssh-ed25519',
    bits: 256,
  },
  {
    line: 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=',
    fingerprint: 'SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM',
    type: 'ecdsa-sha2-nistp256',
    bits: 256,
  },
  {
    line: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCj7ndNxQowgcQnjshcLrqPEiiphnt+VTTvDP6mHBL9j1aNUkY4Ue1gvwnGLVlOhGeYrnZaMgRK6+PKCUXaDbC7qtbW8gIkhL7aGCsOr/C56SJMy/BCZfxd1nWzAOxSDPgVsmerOBYfNqltV9/hWCqBywINIR+5dIg6JTJ72pcEpEjcYgXkE2YEFXV1JHnsKgbLWNlhScqb2UmyRkQyytRLtL+38TGxkxCflmO+5Z8CSSNY7GidjMIZ7Q4zMjA2n1nGrlTDkzwDCsw+wqFPGQA179cnfGWOWRVruj16z6XyvxvjJwbz0wQZ75XK5tKSb7FNyeIEs4TT4jk+S4dhPeAUC5y+bDYirYgM4GC7uEnztnZyaVWQ7B381AK4Qdrwt51ZqExKbQpTUNn+EjqoTwvqNj4kqx5QUCI0ThS/YkOxJCXmPUWZbhjpCg56i+2aB6CmK2JGhn57K5mj0MNdBXA4/WnwH6XoPWJzK5Nyu2zB3nAZp+S5hpQs+p1vN1/wsjk=',
    fingerprint: 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
    type: 'ssh-rsa',
    bits: 3072,
  },
] as const;

describe('GitHub host keys (published fingerprints)', () => {
  it.each(GITHUB)('$type parses with the published fingerprint', ({ line, fingerprint, type, bits }) => {
    const k = parsePublicKey(line);
    expect(k).toMatchObject({ type, bits, fingerprint, comment: undefined, key: line, line });
  });

  it('a single changed bit changes the fingerprint or fails to parse', () => {
    const blob = Buffer.from(GITHUB[0].line.split(' ')[1]!, 'base64');
    blob[blob.length - 1]! ^= 1;
    const k = parsePublicKey(`ssh-ed25519 ${blob.toString('base64')}`);
    expect(k.fingerprint).not.toBe(GITHUB[0].fingerprint);
  });
});
