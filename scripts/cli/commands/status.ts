import type { Command } from '../context.js';
import { DeployKeysError } from '../../lib/errors.js';

export const command: Command = {
  summary: '',
  help: 'Usage: deploy-keys status',
  async run() {
    throw new DeployKeysError('status: not implemented yet');
  },
};
