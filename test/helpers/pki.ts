/**
 * A throwaway PKI for TLS tests, made with the `openssl` CLI (Debian's openssl package):
 *
 *   ca        "warren test CA"        signs server and client
 *   server    CN=localhost            SAN DNS:localhost, IP:127.0.0.1, IP:::1; serverAuth
 *   client    CN=<clientCN>           clientAuth (EXTERNAL logs in as the CN)
 *   otherCa   "warren other CA"       signs otherClient: a CA nobody trusts
 *   otherClient CN=<clientCN>         same name, wrong issuer
 *
 * EC P-256 keys: fast to make. Files are PEM in a temp dir removed by `remove()`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: string;
  otherCa: string;
  server: CertFiles;
  client: CertFiles;
  otherClient: CertFiles;
  /** PEM contents, for client options. */
  read(file: string): Buffer;
  remove(): void;
}

/** Why openssl cannot be used, or undefined when it can. */
export function opensslMissing(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore', timeout: 10_000 });
    return undefined;
  } catch (err) {
    return `openssl CLI not available (${(err as Error).message})`;
  }
}

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string, subject: string): void {
  openssl(dir, 'req', '-x509', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subject,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

function makeLeaf(dir: string, name: string, ca: string, subject: string, ext: string): CertFiles {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, 'req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

export function makePki(clientCN: string): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'warren-pki-'));
  makeCa(dir, 'ca', '/CN=warren test CA');
  makeCa(dir, 'other-ca', '/CN=warren other CA');
  const server = makeLeaf(dir, 'server', 'ca', '/CN=localhost',
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n');
  const clientExt = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n';
  const client = makeLeaf(dir, 'client', 'ca', `/CN=${clientCN}/O=warren tests`, clientExt);
  const otherClient = makeLeaf(dir, 'other-client', 'other-ca', `/CN=${clientCN}/O=warren tests`, clientExt);
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    otherCa: join(dir, 'other-ca.pem'),
    server,
    client,
    otherClient,
    read: (file) => readFileSync(file),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
