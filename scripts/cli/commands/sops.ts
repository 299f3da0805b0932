import type { Command } from '../context.js';
import { DeployKeysError } from '../../lib/errors.js';

export const command: Command = {
  summary: '',
  help: 'Usage: deploy-keys sops',
  async run() {
    throw new DeployKeysError('sops: not implemented yet');
  },
};
