/**
 * `deploy-keys sops …`: the subset of the sops CLI the toolkit needs, with the
 * same names and meanings (decrypt, encrypt, set, updatekeys, rotate), on the native codec.
 */
import { readFile } from 'node:fs/promises';
import { parseCommandArgs } from '../args.js';
import type { CliContext, Command } from '../context.js';
import { UsageError } from '../../lib/errors.js';
import { writeFileAtomic } from '../../lib/fs/index.js';
import { readStdin } from '../stdin.js';

const HELP = `Usage: deploy-keys sops <subcommand> FILE [options]

A native implementation of SOPS (age recipients) — files stay readable by sops >= 3.7 and sops-nix.
Identities are found like sops does: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE,
~/.config/sops/age/keys.txt ($XDG_CONFIG_HOME), SOPS_AGE_SSH_PRIVATE_KEY_FILE, ~/.ssh/id_ed25519.
Recipients and encryption rules come from the first matching creation rule of
the .sops.yaml found upward from the current directory (or SOPS_CONFIG).

Subcommands:
  decrypt FILE [--extract '["a"]["b"]'] [--output-type yaml|json|binary] [--output OUT] [--ignore-mac]
      print the decrypted file (MAC verified; --ignore-mac only if you know why)
  encrypt FILE [--in-place | --output OUT] [--age R1,R2]
      encrypt a plaintext file for the matching creation rule's recipients (or --age)
  set FILE '["a"]["b"]' VALUE | --value-stdin | --value-file F
      set one value (VALUE is JSON, like sops: '"text"', 42, true); keeps every other
      value's ciphertext, comments and key order. Use --value-stdin for secrets:
      command-line arguments are visible to other users of the machine.
  updatekeys FILE [--yes]
      re-wrap the data key for the creation rule's current recipients; values,
      MAC and lastmodified stay as they are
  rotate FILE [--in-place [--dry-run]]
      a new data key (like sops rotate): every value and comment re-encrypted
      under it, the MAC recomputed, the key wrapped for the file's recipients;
      comments and order kept. After removing a recipient (updatekeys), rotate:
      a copy of the old data key then opens nothing written since. Prints the
      rotated file unless --in-place; --dry-run checks it can, writes nothing.

Limits (every reader): files up to 16 MiB, nesting up to 100 levels, and YAML
aliases may add at most 100,000 nodes (or the document's own size, if larger).
Writers refuse a result over these limits, so whatever is written reads back.

Common options:
  --input-type yaml|json|binary   override the format guessed from the extension
`;

type Sub = 'decrypt' | 'encrypt' | 'set' | 'updatekeys' | 'rotate';
const SUBS: readonly Sub[] = ['decrypt', 'encrypt', 'set', 'updatekeys', 'rotate'];
const FORMATS = ['yaml', 'json', 'binary'] as const;
type Format = (typeof FORMATS)[number];

function format(flag: string | undefined, name: string): Format | undefined {
  if (flag === undefined) return undefined;
  if (!(FORMATS as readonly string[]).includes(flag)) throw new UsageError(`sops: ${name} must be yaml, json or binary, not ${JSON.stringify(flag)}`);
  return flag as Format;
}

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const [sub, ...rest] = args;
    if (sub === undefined || !(SUBS as readonly string[]).includes(sub)) {
      throw new UsageError(sub === undefined ? 'sops: missing subcommand' : `sops: unknown subcommand ${JSON.stringify(sub)}`, 'use decrypt, encrypt, set, updatekeys or rotate; see deploy-keys sops --help');
    }
    const sops = await import('../../lib/sops/index.js');
    switch (sub as Sub) {
      case 'decrypt': return decrypt(rest, ctx, sops);
      case 'encrypt': return encrypt(rest, ctx, sops);
      case 'set': return set(rest, ctx, sops);
      case 'updatekeys': return updatekeys(rest, ctx, sops);
      case 'rotate': return rotate(rest, ctx, sops);
    }
  },
};

type Sops = typeof import('../../lib/sops/index.js');

async function decrypt(args: string[], ctx: CliContext, sops: Sops): Promise<number> {
  const { values, positionals } = parseCommandArgs('sops decrypt', args, {
    extract: { type: 'string' },
    'output-type': { type: 'string' },
    'input-type': { type: 'string' },
    output: { type: 'string' },
    'ignore-mac': { type: 'boolean' },
  }, { min: 1, max: 1, names: 'FILE' });
  const file = positionals[0];
  const inputType = format(values['input-type'], '--input-type');
  const outputType = format(values['output-type'], '--output-type') ?? inputType;
  const extract = values.extract === undefined ? undefined : sops.parseTreePath(values.extract);
  const dec = await sops.decryptFile(file, { env: ctx.env, ignoreMac: values['ignore-mac'] ?? false, ...(inputType ? { inputType } : {}) });
  if (values['ignore-mac']) ctx.stderr.write(`${ctx.style.yellow('warning:')} MAC not verified for ${file} (--ignore-mac)\n`);
  let out: string;
  if (extract) {
    const v = dec.extract(extract);
    // Like sops: a string is printed raw, anything else as JSON (or YAML).
    if (typeof v === 'string') out = v;
    else {
      const { toJsonValue } = await import('../json-value.js');
      out = outputType === 'yaml' ? (await import('yaml')).stringify(toJsonValue(v)) : `${JSON.stringify(toJsonValue(v), null, 2)}\n`;
    }
  } else {
    const kind = outputType ?? dec.format;
    out = kind === 'json' ? dec.toJson() : kind === 'binary' ? dec.toText() : dec.toYaml();
  }
  if (values.output) await writeFileAtomic(values.output, out, { mode: 0o600 });
  else ctx.data.write(out);
  return 0;
}

async function encrypt(args: string[], ctx: CliContext, sops: Sops): Promise<number> {
  const { values, positionals } = parseCommandArgs('sops encrypt', args, {
    'in-place': { type: 'boolean', short: 'i' },
    output: { type: 'string' },
    age: { type: 'string' },
    'input-type': { type: 'string' },
  }, { min: 1, max: 1, names: 'FILE' });
  if (values['in-place'] && values.output) throw new UsageError('sops encrypt: use --in-place or --output, not both');
  const file = positionals[0];
  const inputType = format(values['input-type'], '--input-type');
  const ageFlag = values.age ?? ctx.env.SOPS_AGE_RECIPIENTS;
  const recipients = ageFlag?.split(',').map((s) => s.trim()).filter(Boolean);
  const text = await sops.encryptFile(file, {
    cwd: ctx.cwd,
    env: ctx.env,
    inPlace: values['in-place'] ?? false,
    ...(recipients?.length ? { recipients } : {}),
    ...(inputType ? { format: inputType } : {}),
  });
  if (values.output) await writeFileAtomic(values.output, text, { mode: 0o600 });
  else if (!values['in-place']) ctx.data.write(text);
  return 0;
}

async function set(args: string[], ctx: CliContext, sops: Sops): Promise<number> {
  const { values, positionals } = parseCommandArgs('sops set', args, {
    'value-stdin': { type: 'boolean' },
    'value-file': { type: 'string' },
    'input-type': { type: 'string' },
  }, { min: 2, max: 3, names: "FILE '[\"path\"]' VALUE" });
  const [file, pathText, valueArg] = positionals;
  const sources = [valueArg !== undefined, values['value-stdin'] === true, values['value-file'] !== undefined].filter(Boolean).length;
  if (sources !== 1) throw new UsageError('sops set: give exactly one of VALUE, --value-stdin or --value-file', 'see deploy-keys sops --help');
  const path = sops.parseTreePath(pathText);
  const raw = valueArg
    ?? (values['value-file'] !== undefined ? await readFile(values['value-file'], 'utf8') : await readStdin(ctx.stdin));
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    // Never echo the value: it is usually a secret.
    throw new UsageError('sops set: the value is not valid JSON', 'quote strings as JSON, e.g. \'"text"\'; a PEM key becomes a JSON string with \\n escapes');
  }
  const inputType = format(values['input-type'], '--input-type');
  const editor = await sops.openSopsFile(file, { env: ctx.env, ...(inputType ? { inputType } : {}) });
  editor.set(path, value as Parameters<typeof editor.set>[1]);
  await editor.save();
  return 0;
}

async function updatekeys(args: string[], ctx: CliContext, sops: Sops): Promise<number> {
  const { values, positionals } = parseCommandArgs('sops updatekeys', args, {
    yes: { type: 'boolean', short: 'y' },
    'input-type': { type: 'string' },
  }, { min: 1, max: 1, names: 'FILE' });
  const inputType = format(values['input-type'], '--input-type');
  const r = await sops.updateKeys(positionals[0], { cwd: ctx.cwd, env: ctx.env, ...(inputType ? { inputType } : {}) });
  if (!r.changed) ctx.stderr.write(`${positionals[0]}: already up to date\n`);
  else {
    for (const a of r.added) ctx.stderr.write(`${ctx.style.green('+')} ${a}\n`);
    for (const d of r.removed) ctx.stderr.write(`${ctx.style.red('-')} ${d}\n`);
    ctx.stderr.write(`${positionals[0]}: data key re-wrapped for ${r.added.length} new, ${r.removed.length} removed recipient(s)\n`);
  }
  return 0;
}

async function rotate(args: string[], ctx: CliContext, sops: Sops): Promise<number> {
  const { values, positionals } = parseCommandArgs('sops rotate', args, {
    'in-place': { type: 'boolean', short: 'i' },
    'dry-run': { type: 'boolean' },
    'input-type': { type: 'string' },
  }, { min: 1, max: 1, names: 'FILE' });
  if (values['dry-run'] && !values['in-place']) throw new UsageError('sops rotate: --dry-run goes with --in-place (without it nothing is written anyway)');
  const file = positionals[0];
  const inputType = format(values['input-type'], '--input-type');
  const inPlace = values['in-place'] === true && values['dry-run'] !== true;
  const r = await sops.rotateDataKey(file, { env: ctx.env, inPlace, ...(inputType ? { inputType } : {}) });
  if (!values['in-place']) ctx.data.write(r.text);
  else ctx.stderr.write(`${file}: ${values['dry-run'] ? 'would get' : 'has'} a new data key, wrapped for ${r.recipients.length} recipient(s)\n`);
  return 0;
}
