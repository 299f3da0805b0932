import type { Command } from '../context.js';
import { DeployKeysError } from '../../lib/errors.js';

export const command: Command = {
  summary: '',
  help: 'Usage: deploy-keys ssh-to-age',
  async run() {
    throw new DeployKeysError('ssh-to-age: not implemented yet');
  },
};
