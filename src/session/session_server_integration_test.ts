/**
 * The session server over real TLS and websockets, with a small terminal in
 * place of a job's: what workhorse meets when it connects.
 */
import assert from "node:assert/strict";
import type { LogFields, Logger } from "../log/logger.ts";
import type { JobTerminal, TerminalCallbacks, TerminalStream } from "../poller/job_terminal.ts";
import { SessionServer } from "./session_server.ts";

class QuietLog implements Logger {
  readonly lines: string[] = [];
  debug(): void {}
  info(msg: string): void {
    this.lines.push(msg);
  }
  warn(msg: string): void {
    this.lines.push(msg);
  }
  error(msg: string, _fields?: LogFields): void {
    this.lines.push(msg);
  }
  child(): Logger {
    return this;
  }
}

/** Answers each keystroke chunk upper-cased; `end()` is the shell exiting. */
class ShoutingTerminal implements JobTerminal {
  callbacks: TerminalCallbacks | null = null;
  closes = 0;
  open(callbacks: TerminalCallbacks): Promise<TerminalStream> {
    this.callbacks = callbacks;
    return Promise.resolve({
      write: (data) =>
        callbacks.onOutput(new TextEncoder().encode(
          new TextDecoder().decode(data).toUpperCase(),
        )),
      pause: () => {},
      resume: () => {},
      close: () => this.closes++,
    });
  }
  end(): void {
    this.callbacks?.onClosed();
  }
}

function connect(
  url: string,
  options: { protocol: string; authorization: string; certificate: string },
): { socket: WebSocket; opened: Promise<void>; closed: Promise<void>; messages: unknown[] } {
  const client = Deno.createHttpClient({ caCerts: [options.certificate], http2: false });
  const init = {
    protocols: [options.protocol],
    headers: { Authorization: options.authorization },
    client,
  };
  const socket = new WebSocket(
    url.replace(/^https:/, "wss:") + "/exec",
    init as unknown as string[],
  );
  socket.binaryType = "arraybuffer";
  const opened = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<void>();
  const messages: unknown[] = [];
  socket.onopen = () => opened.resolve();
  socket.onerror = () => opened.reject(new Error("websocket failed"));
  socket.onclose = () => {
    opened.reject(new Error("closed before open"));
    client.close();
    closed.resolve();
  };
  opened.promise.catch(() => {});
  socket.onmessage = (e: MessageEvent) => messages.push(e.data);
  return { socket, opened: opened.promise, closed: closed.promise, messages };
}

async function until(probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("session server: base64 subprotocol, the job's end closes the websocket, ended sessions answer 404", async () => {
  const log = new QuietLog();
  await using server = await SessionServer.start({
    listenAddress: "127.0.0.1:0",
    advertiseAddress: "",
    sessionTimeoutSeconds: () => 42,
    log,
  });
  assert.equal(server.url, `https://127.0.0.1:${server.port}`);
  const offer = server.offer();
  assert.equal(server.take(7), null, "an offer that brought no job is not served");
  offer.accept(7);
  const session = server.take(7);
  assert.ok(session);
  assert.equal(session.sessionTimeoutSeconds, 42);
  const terminal = new ShoutingTerminal();
  session.attach(terminal);

  const client = Deno.createHttpClient({ caCerts: [offer.info.certificate], http2: false });
  const get = async (url: string, authorization: string) => {
    const res = await fetch(url, { client, headers: { Authorization: authorization } });
    await res.body?.cancel();
    return res.status;
  };
  assert.equal(await get(`${offer.info.url}/proxy/build/80/`, offer.info.authorization), 404);
  assert.equal(await get(`${offer.info.url}/proxy/build/80/`, "x"), 401);

  const ws = connect(offer.info.url, { ...offer.info, protocol: "base64.terminal.gitlab.com" });
  await ws.opened;
  assert.equal(ws.socket.protocol, "base64.terminal.gitlab.com");
  ws.socket.send(btoa("ls -l\n"));
  await until(() => ws.messages.length > 0);
  assert.equal(typeof ws.messages[0], "string", "text frames");
  assert.equal(atob(ws.messages[0] as string), "LS -L\n");

  terminal.end(); // the shell exited
  await ws.closed;
  // A new terminal may connect after the first ended.
  const again = connect(offer.info.url, { ...offer.info, protocol: "terminal.gitlab.com" });
  await again.opened;
  again.socket.send(new TextEncoder().encode("pwd\n"));
  await until(() => again.messages.length > 0);
  assert.ok(again.messages[0] instanceof ArrayBuffer, "binary frames");
  assert.equal(new TextDecoder().decode(again.messages[0] as ArrayBuffer), "PWD\n");

  session.close(); // the job ended
  await again.closed;
  assert.equal(terminal.closes, 2, "each terminal was ended in the job");
  assert.equal(await get(`${offer.info.url}/exec`, offer.info.authorization), 404);
  client.close();
});

/** Sends `head` (request line and headers) over TLS as is; resolves the answer's status and body. */
async function rawRequest(
  port: number,
  certificate: string,
  head: string,
): Promise<{ status: number; text: string }> {
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [certificate] });
  try {
    await conn.write(new TextEncoder().encode(`${head}\r\n\r\n`));
    let text = "";
    const buffer = new Uint8Array(4096);
    // The answer's head and its body (content-length); the server keeps the connection open.
    const isWhole = () => {
      const end = text.indexOf("\r\n\r\n");
      const length = /^content-length: *(\d+)/im.exec(text)?.[1];
      return end >= 0 && length !== undefined && text.length - end - 4 >= Number(length);
    };
    while (!isWhole()) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]), text };
  } finally {
    conn.close();
  }
}

Deno.test("a websocket handshake without Sec-WebSocket-Key gets 400, ends the terminal it opened and leaves the session free", async () => {
  const log = new QuietLog();
  await using server = await SessionServer.start({
    listenAddress: "127.0.0.1:0",
    advertiseAddress: "",
    sessionTimeoutSeconds: () => 42,
    log,
  });
  const offer = server.offer();
  offer.accept(1);
  const terminal = new ShoutingTerminal();
  server.take(1)!.attach(terminal);
  const path = new URL(offer.info.url).pathname;

  const bad = await rawRequest(
    server.port,
    offer.info.certificate,
    `GET ${path}/exec HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${offer.info.authorization}\r\n` +
      "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13",
  );
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.text, /sec-websocket-key/i);
  assert.ok(log.lines.includes("Terminal websocket upgrade failed"), log.lines.join("\n"));
  assert.equal(terminal.closes, 1, "the terminal opened for it was ended");

  // The session is free: a well-formed client gets its terminal, not 423 Locked.
  const ws = connect(offer.info.url, { ...offer.info, protocol: "terminal.gitlab.com" });
  await ws.opened;
  ws.socket.send(new TextEncoder().encode("id\n"));
  await until(() => ws.messages.length > 0);
  assert.equal(new TextDecoder().decode(ws.messages[0] as ArrayBuffer), "ID\n");
  ws.socket.close();
  await ws.closed;
});

/** A shell printing as fast as it may (`yes`): 256 KiB per turn of the event loop unless paused. */
class FirehoseTerminal implements JobTerminal {
  produced = 0;
  pauses = 0;
  resumes = 0;
  #isPaused = false;
  #isClosed = false;
  open(callbacks: TerminalCallbacks): Promise<TerminalStream> {
    const chunk = new Uint8Array(256 * 1024).fill(0x79);
    const print = () => {
      if (this.#isClosed) return;
      if (!this.#isPaused) {
        callbacks.onOutput(chunk);
        this.produced += chunk.length;
      }
      setTimeout(print, 1);
    };
    print();
    return Promise.resolve({
      write: () => {},
      pause: () => {
        this.pauses++;
        this.#isPaused = true;
      },
      resume: () => {
        this.resumes++;
        this.#isPaused = false;
      },
      close: () => {
        this.#isClosed = true;
      },
    });
  }
}

Deno.test("a websocket client that does not read pauses the terminal's output instead of the server buffering it, and reading resumes it", async () => {
  await using server = await SessionServer.start({
    listenAddress: "127.0.0.1:0",
    advertiseAddress: "",
    sessionTimeoutSeconds: () => 42,
    log: new QuietLog(),
  });
  const offer = server.offer();
  offer.accept(1);
  const terminal = new FirehoseTerminal();
  server.take(1)!.attach(terminal);
  const path = new URL(offer.info.url).pathname;
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: server.port,
    caCerts: [offer.info.certificate],
  });
  try {
    await conn.write(new TextEncoder().encode(
      `GET ${path}/exec HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${offer.info.authorization}\r\n` +
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: terminal.gitlab.com\r\n\r\n",
    ));
    // The client reads nothing for a while: what is not sent stays bounded, the shell waits.
    await until(() => terminal.pauses > 0);
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(
      terminal.produced < 32 * 1024 * 1024,
      `${terminal.produced} bytes printed while the client read none`,
    );
    assert.equal(terminal.resumes, 0);

    // Once the client reads, the output goes on.
    const buffer = new Uint8Array(1024 * 1024);
    let received = 0;
    while (terminal.resumes === 0 || received < terminal.produced) {
      const n = await conn.read(buffer);
      if (n === null) break;
      received += n;
      if (received > 64 * 1024 * 1024) break;
    }
    assert.ok(terminal.resumes > 0, "resumed once the client read");
  } finally {
    conn.close();
  }
});

Deno.test("a websocket handshake sent with another method than GET gets 405 and opens no terminal", async () => {
  await using server = await SessionServer.start({
    listenAddress: "127.0.0.1:0",
    advertiseAddress: "",
    sessionTimeoutSeconds: () => 42,
    log: new QuietLog(),
  });
  const offer = server.offer();
  offer.accept(1);
  const terminal = new ShoutingTerminal();
  server.take(1)!.attach(terminal);
  const path = new URL(offer.info.url).pathname;
  for (const method of ["POST", "PUT"]) {
    const answer = await rawRequest(
      server.port,
      offer.info.certificate,
      `${method} ${path}/exec HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${offer.info.authorization}\r\n` +
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    );
    assert.equal(answer.status, 405, `${method}: ${answer.text}`);
  }
  assert.equal(terminal.callbacks, null, "no terminal was opened");
});
