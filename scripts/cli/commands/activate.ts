import type { Command } from '../context.js';
import { DeployKeysError } from '../../lib/errors.js';

export const command: Command = {
  summary: '',
  help: 'Usage: deploy-keys activate',
  async run() {
    throw new DeployKeysError('activate: not implemented yet');
  },
};
