import type { Command } from '../context.js';
import { DeployKeysError } from '../../lib/errors.js';

export const command: Command = {
  summary: '',
  help: 'Usage: deploy-keys vm-fresh',
  async run() {
    throw new DeployKeysError('vm-fresh: not implemented yet');
  },
};
