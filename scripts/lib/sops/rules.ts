/**
 * Which leaves get encrypted (spec §4): exactly one of the suffix/regex rules,
 * tested against every mapping key on the path (list indices never count), so a
 * match anywhere on the path applies to the whole subtree.
 */
import { SopsFormatError } from './errors.js';

export const RULE_KEYS = [
  'unencrypted_suffix',
  'encrypted_suffix',
  'unencrypted_regex',
  'encrypted_regex',
  'unencrypted_comment_regex',
  'encrypted_comment_regex',
] as const;
export type RuleKey = (typeof RULE_KEYS)[number];

export interface EncryptionRules {
  rule: RuleKey;
  value: string;
  macOnlyEncrypted: boolean;
}

export const DEFAULT_RULES: EncryptionRules = { rule: 'unencrypted_suffix', value: '_unencrypted', macOnlyEncrypted: false };

/** Build rules from metadata or a creation rule; `where` names the file for errors. */
export function rulesFrom(fields: Partial<Record<RuleKey, unknown>> & { mac_only_encrypted?: unknown }, where: string): EncryptionRules {
  const set = RULE_KEYS.filter((k) => fields[k] !== undefined && fields[k] !== null && fields[k] !== '');
  if (set.length > 1) {
    throw new SopsFormatError(`${where}: more than one encryption rule is set (${set.join(', ')})`, {
      hint: 'keep only one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex and the comment regexes',
    });
  }
  const macOnlyEncrypted = fields.mac_only_encrypted === true || fields.mac_only_encrypted === 'true';
  const rule = set[0];
  if (rule === undefined) return { ...DEFAULT_RULES, macOnlyEncrypted };
  const value = String(fields[rule]);
  if (rule.endsWith('regex')) compileRe2(value, where);
  return { rule, value, macOnlyEncrypted };
}

/**
 * Go RE2, unanchored search. JS RegExp agrees on the common subset; a leading `(?i)`
 * (or other leading flags JS has an equivalent for) is translated, other inline
 * flags are rejected rather than silently matching differently.
 */
export function compileRe2(source: string, where: string): RegExp {
  let flags = '';
  let body = source;
  const [lead, leadFlags] = /^\(\?([imsU]+)\)/.exec(body) ?? [];
  if (lead !== undefined && leadFlags !== undefined) {
    if (leadFlags.includes('U')) throw unsupportedRegex(source, where);
    flags += leadFlags;
    body = body.slice(lead.length);
  }
  if (/\(\?[a-zA-Z-]+[):]/.test(body.replace(/\\./g, ''))) throw unsupportedRegex(source, where);
  try {
    return new RegExp(body, flags);
  } catch {
    throw new SopsFormatError(`${where}: invalid regular expression ${JSON.stringify(source)}`, { hint: 'use Go RE2 syntax' });
  }
}

function unsupportedRegex(source: string, where: string): SopsFormatError {
  return new SopsFormatError(`${where}: regular expression ${JSON.stringify(source)} uses inline flags this tool cannot translate`, {
    hint: 'only a leading (?i), (?m) or (?s) is supported',
  });
}

/**
 * Decides encryption for leaves (by key path) and comments (by the comment lines
 * preceding the item, for the comment-regex rules).
 */
export class RuleMatcher {
  readonly #rules: EncryptionRules;
  /** The rule's test on one key or comment line: its suffix or its regex. */
  readonly #matches: (s: string) => boolean;

  constructor(rules: EncryptionRules) {
    this.#rules = rules;
    if (rules.rule.endsWith('regex')) {
      const re = compileRe2(rules.value, 'encryption rule');
      this.#matches = (s) => re.test(s);
    } else {
      this.#matches = (s) => s.endsWith(rules.value);
    }
  }

  get macOnlyEncrypted(): boolean {
    return this.#rules.macOnlyEncrypted;
  }

  /**
   * As sops' `shouldBeEncrypted`: `comments` is the comment stack, the comment lines
   * heading the item and its ancestors as the file holds them (plaintext when
   * encrypting). For a comment, the stack ends with the comment itself, which
   * `encrypted_comment_regex` skips: a marker stays readable unless an earlier line matched.
   */
  shouldEncrypt(path: readonly string[], comments: readonly string[], isComment = false): boolean {
    const matches = this.#matches;
    switch (this.#rules.rule) {
      case 'unencrypted_suffix':
      case 'unencrypted_regex':
        return !path.some((k) => matches(k));
      case 'encrypted_suffix':
      case 'encrypted_regex':
        return path.some((k) => matches(k));
      case 'unencrypted_comment_regex':
        return !comments.some((c) => matches(c));
      case 'encrypted_comment_regex':
        return (isComment ? comments.slice(0, -1) : comments).some((c) => matches(c));
    }
  }

  /** Under `unencrypted_comment_regex`, whether `text` would read as a marker. */
  unencryptedCommentMarker(text: string): boolean {
    return this.#rules.rule === 'unencrypted_comment_regex' && this.#matches(text);
  }
}
