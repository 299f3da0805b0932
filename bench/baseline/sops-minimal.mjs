// The baseline for bench/sops-cli.mjs: the least a Node process must do to
// decrypt (or encrypt) a file with the same libraries, without the CLI around it.
import { decryptFile, encryptFile } from '../../dist/scripts/lib/sops/index.js';

const [mode, file] = process.argv.slice(2);
if (mode === 'decrypt') process.stdout.write((await decryptFile(file)).toYaml());
else process.stdout.write(await encryptFile(file));
