import type { Command } from '../context.js';
import { DeployKeysError } from '../../lib/errors.js';

export const command: Command = {
  summary: '',
  help: 'Usage: deploy-keys activation',
  async run() {
    throw new DeployKeysError('activation: not implemented yet');
  },
};
