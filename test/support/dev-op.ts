import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

const opLogs = new WeakMap<ChildProcess, string[]>();

/** The JSON lines the dev OP printed (e.g. `grant.success` with the grant type), most recent last. */
export function devOpLog(op: ChildProcess): Array<Record<string, unknown>> {
  return (opLogs.get(op) ?? []).flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** Starts the development OP (dev-idp/server.mjs) with these DEV_IDP_* settings and waits for discovery. */
export async function startDevOp(env: Record<string, string>): Promise<ChildProcess> {
  const op = spawn(process.execPath, ['dev-idp/server.mjs'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  // Always drained (a full pipe would block the OP); the last lines are kept for tests to read.
  const lines: string[] = [];
  opLogs.set(op, lines);
  op.stdout?.on('data', (d: Buffer) => {
    lines.push(...d.toString().split('\n').filter(Boolean));
    if (lines.length > 5_000) lines.splice(0, lines.length - 5_000);
  });
  op.stderr?.on('data', (d: Buffer) => {
    const text = d.toString();
    if (!text.includes('WARNING')) process.stderr.write(`[dev-idp] ${text}`);
  });
  const url = `${env.DEV_IDP_ISSUER}/.well-known/openid-configuration`;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (op.exitCode !== null) break;
    try {
      if ((await fetch(url)).ok) return op;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  op.kill('SIGKILL');
  throw new Error(`dev OP did not start: ${url}`);
}

export function stopDevOp(op: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (op.exitCode !== null) return resolve();
    op.once('exit', () => resolve());
    op.kill('SIGTERM');
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
