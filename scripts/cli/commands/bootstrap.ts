import type { Command } from '../context.js';
import { DeployKeysError } from '../../lib/errors.js';

export const command: Command = {
  summary: '',
  help: 'Usage: deploy-keys bootstrap',
  async run() {
    throw new DeployKeysError('bootstrap: not implemented yet');
  },
};
