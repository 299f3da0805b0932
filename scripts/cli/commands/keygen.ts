import type { Command } from '../context.js';
import { DeployKeysError } from '../../lib/errors.js';

export const command: Command = {
  summary: '',
  help: 'Usage: deploy-keys keygen',
  async run() {
    throw new DeployKeysError('keygen: not implemented yet');
  },
};
