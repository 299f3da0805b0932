import type { Command } from '../context.js';
import { DeployKeysError } from '../../lib/errors.js';

export const command: Command = {
  summary: '',
  help: 'Usage: deploy-keys rotate',
  async run() {
    throw new DeployKeysError('rotate: not implemented yet');
  },
};
