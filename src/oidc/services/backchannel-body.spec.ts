import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readBodyText } from './backchannel-endpoint.service';

const EVENTS = ['data', 'end', 'error', 'close'] as const;
type Outcome = { body?: string; error?: { status?: number; type?: string }; listenersLeft: number };

/** A server whose requests are read by `readBodyText` (after `prepare`), each outcome recorded. */
async function server(prepare: (req: IncomingMessage) => void = () => undefined, timeoutMs?: number): Promise<{ server: Server; port: number; outcomes: Outcome[] }> {
  const outcomes: Outcome[] = [];
  const srv = createServer((req, res) => {
    prepare(req);
    const listening = () => EVENTS.reduce((n, e) => n + req.listenerCount(e), 0);
    const before = listening();
    readBodyText(req, timeoutMs).then(
      (body) => {
        outcomes.push({ body, listenersLeft: listening() - before });
        res.end('ok');
      },
      (error: { status?: number; type?: string }) => {
        outcomes.push({ error: { status: error.status, type: error.type }, listenersLeft: listening() - before });
        res.end();
      },
    );
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { server: srv, port: (srv.address() as AddressInfo).port, outcomes };
}

/** Sends `bytes` as a Content-Length framed POST, cut at `cuts` (5 ms apart); goes away after `sendBytes`. */
async function post(port: number, bytes: Buffer, cuts: number[], sendBytes = bytes.length, headers = ''): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume(); // the answer is drained, so that the server's close is seen
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${bytes.length}\r\n${headers}Connection: close\r\n\r\n`);
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    const end = Math.min(cut, sendBytes);
    if (end > at) socket.write(bytes.subarray(at, end));
    at = Math.max(at, end);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (sendBytes < bytes.length) socket.destroy();
  await closed;
}

describe('readBodyText (the back-channel form body)', () => {
  let running: Server | undefined;
  afterEach(() => running?.close());

  it('decodes the whole body as UTF-8 without its byte order mark, a character split between packets included, and leaves no listener behind', async () => {
    const { server: srv, port, outcomes } = await server();
    running = srv;
    const text = 'logout_token=abc.def.ghi&name=Zoë';
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    // Cut inside the byte order mark and inside the two bytes of "ë".
    await post(port, bytes, [2, bytes.length - 1]);
    expect(outcomes).toEqual([{ body: text, listenersLeft: 0 }]);
  });

  it.each(['utf8', 'latin1', 'base64', 'hex'] as const)('reads a request the host paused and set the %s encoding on: the same bytes, decoded as UTF-8', async (encoding) => {
    const { server: srv, port, outcomes } = await server((req) => {
      req.setEncoding(encoding);
      req.pause();
    });
    running = srv;
    const text = 'logout_token=abc.def.ghi&name=Zoë 🙂';
    const bytes = Buffer.from(text);
    await post(port, bytes, [7, bytes.length - 2, bytes.length - 1]);
    expect(outcomes).toEqual([{ body: text, listenersLeft: 0 }]);
  });

  it('a client gone mid-body is a 400 (request.aborted), and nothing is left listening', async () => {
    const { server: srv, port, outcomes } = await server();
    running = srv;
    await post(port, Buffer.from(`logout_token=${'a'.repeat(400)}`), [100], 150);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(outcomes).toEqual([{ error: { status: 400, type: 'request.aborted' }, listenersLeft: 0 }]);
  });

  it('a body still incomplete when the deadline passes is refused (408 → a final 400), the client still connected; nothing is left listening', async () => {
    const { server: srv, port, outcomes } = await server(undefined, 150);
    running = srv;
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\nlogout_token=abc`);
    await new Promise((resolve) => setTimeout(resolve, 400));
    socket.destroy();
    expect(outcomes).toEqual([{ error: { status: 408, type: 'request.timeout' }, listenersLeft: 0 }]);
  });
});
