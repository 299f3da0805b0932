import type { Command } from '../context.js';
import { DeployKeysError } from '../../lib/errors.js';

export const command: Command = {
  summary: '',
  help: 'Usage: deploy-keys audit',
  async run() {
    throw new DeployKeysError('audit: not implemented yet');
  },
};
