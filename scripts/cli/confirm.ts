/**
 * The confirmation policy of the changing commands: --yes never asks; on a
 * terminal the plan is shown and the operator answers; without a terminal a
 * plan that only adds proceeds and one that deletes anything (rotate
 * --finish, revoke, a repo a host no longer gets) or registers again a key
 * removed from the forge refuses: it needs --yes. So nothing ever waits for
 * input.
 */
import { createInterface } from 'node:readline';
import type { Streams } from './output.js';
import { DeployKeysError } from '../lib/errors.js';
import { describeStep, isBookkeeping, needsConsent, type Plan } from '../lib/lifecycle/index.js';

type Io = Streams & { stdin: NodeJS.ReadableStream & { isTTY?: boolean } };

/** Reads one line from stdin (TTY only). */
async function ask(io: Io, question: string): Promise<string> {
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false });
  try {
    io.stderr.write(question);
    return await new Promise<string>((resolve) => {
      rl.once('line', (l) => resolve(l));
      rl.once('close', () => resolve(''));
    });
  } finally {
    rl.close();
  }
}

export function confirmer(io: Io, yes: boolean): ((plan: Plan) => Promise<boolean>) | undefined {
  if (yes) return undefined;
  return async (plan) => {
    if (!io.stdin.isTTY) {
      const consent = plan.steps.filter(needsConsent);
      const [first] = consent;
      if (first === undefined) return true;
      throw new DeployKeysError(`${plan.command} ${plan.host}: would ${describeStep(first, plan.host)}${consent.length > 1 ? ` (and ${consent.length - 1} more)` : ''}, and stdin is not a terminal`, {
        hint: 'pass --yes to confirm, or --dry-run to see the plan',
      });
    }
    const lines = plan.steps.filter((s) => !isBookkeeping(s)).map((s) => `  ${describeStep(s, plan.host)}`);
    io.stderr.write(`${plan.command} ${plan.host} will:\n${lines.join('\n')}\n`);
    const a = (await ask(io, 'Proceed? [y/N] ')).trim().toLowerCase();
    return a === 'y' || a === 'yes';
  };
}
