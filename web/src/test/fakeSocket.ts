import type { SocketLike } from '../sdk/socket';
import type { ClientFrame, ServerFrame } from '../sdk/types';

/** In-memory stand-in for a browser WebSocket, driven by the test. */
export class FakeSocket implements SocketLike {
  readyState = 0;
  sent: ClientFrame[] = [];
  closed = false;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(readonly url: string) {}

  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientFrame);
  }
  close(): void {
    this.closed = true;
    this.readyState = 3;
  }

  // test drivers
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(frame: ServerFrame | Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  serverClose(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  sentOfType<T extends ClientFrame['type']>(type: T): (ClientFrame & { type: T })[] {
    return this.sent.filter((f) => f.type === type) as (ClientFrame & { type: T })[];
  }
}

export function socketFactory() {
  const sockets: FakeSocket[] = [];
  return {
    sockets,
    create: (url: string) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    get last(): FakeSocket {
      const s = sockets[sockets.length - 1];
      if (!s) throw new Error('no socket created');
      return s;
    },
  };
}

/** Lets pending promise callbacks (token fetch, etc.) run under fake timers. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
