import type { Command } from '../context.js';
import { DeployKeysError } from '../../lib/errors.js';

export const command: Command = {
  summary: '',
  help: 'Usage: deploy-keys revoke',
  async run() {
    throw new DeployKeysError('revoke: not implemented yet');
  },
};
