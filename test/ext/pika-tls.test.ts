/**
 * pika (Debian's python3-pika) over amqps against warren's TLS listener: EXTERNAL login with a
 * client certificate (user = the certificate's CN), PLAIN over TLS, and a client trusting
 * another CA refusing the server. Certificates are made with openssl (test/helpers/pki.ts);
 * the script is test/clients/pika/tls.py. In-process broker only (the reference RabbitMQ has
 * no TLS listener).
 *
 * The script runs with spawn, never spawnSync: the in-process broker shares this event loop.
 */
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { external } from '../helpers/broker.js';
import { makePki, opensslMissing, type Pki } from '../helpers/pki.js';

const CLIENT_CN = 'sec-pika-tls';
const script = fileURLToPath(new URL('../clients/pika/tls.py', import.meta.url));
const NOT_INSTALLED = 'python3-pika is not installed (apt-get install python3-pika)';

/** The first interpreter that can import pika: $PYTHON, `python3` on PATH, /usr/bin/python3 (as test/ext/pika.test.ts). */
async function pythonWithPika(): Promise<string> {
  const tried: string[] = [];
  for (const c of [process.env['PYTHON'], 'python3', '/usr/bin/python3'].filter((x): x is string => !!x)) {
    const why = await new Promise<string | null>((resolve) => {
      execFile(c, ['-c', 'import pika'], { timeout: 20_000 }, (err, _o, stderr) => resolve(err === null ? null : stderr.trim().split('\n').pop() || err.message));
    });
    if (why === null) return c;
    tried.push(`${c}: ${why}`);
  }
  throw new Error(`${NOT_INSTALLED}; tried ${tried.join('; ')}`);
}

function run(py: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(py, ['-u', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const missing = external ? 'needs the in-process broker' : opensslMissing();

describe.skipIf(missing !== undefined)('pika over amqps', () => {
  let pki: Pki;
  let broker: RunningBroker;

  beforeAll(async () => {
    pki = makePki(CLIENT_CN);
    broker = await startBroker({ tlsPort: 0, tlsCert: pki.server.cert, tlsKey: pki.server.key, tlsCa: pki.ca, tlsVerifyPeer: true });
    const users = broker.broker.users;
    users.put({ ...users.add(CLIENT_CN, ''), passwordHash: '' });
    users.setPermission('/', CLIENT_CN, { configure: '.*', write: '.*', read: '.*' });
  });

  afterAll(async () => {
    await broker?.close();
    pki?.remove();
  });

  it('tls.py: EXTERNAL with a client certificate, PLAIN over TLS, wrong CA refused', async () => {
    const py = await pythonWithPika();
    const r = await run(py, ['127.0.0.1', String(broker.tlsPort), pki.ca, pki.client.cert, pki.client.key, pki.otherCa], 90_000);
    const why = `tls.py exited ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    expect(lines, why).toEqual(['ok external-login', 'ok plain-over-tls', 'ok wrong-ca-refused']);
    expect(r.code, why).toBe(0);
  });
});
