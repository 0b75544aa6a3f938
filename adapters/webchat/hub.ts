/**
 * The open chat pages of one channel in this process, by visitor: where a live push goes. A
 * visitor may have several tabs open; each gets every push, except the tab a message came from
 * (it gets the ack). Dead connections (a phone that went out of range) are found by a ping every
 * 30 s and dropped.
 */
import { randomUUID } from 'node:crypto';
import type { ServerFrame } from './protocol.js';

/** The part of a `ws` WebSocket the web chat uses. */
export interface ChatSocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  ping(): void;
  terminate(): void;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): unknown;
  on(event: 'close' | 'pong', listener: () => void): unknown;
}

const OPEN = 1;
/** Tabs per visitor; more is a runaway page, not a person. */
export const MAX_SOCKETS_PER_VISITOR = 10;

export class SocketHub {
  private readonly byVisitor = new Map<string, Set<ChatSocket>>();
  private readonly alive = new WeakMap<ChatSocket, boolean>();
  /** A tag per socket, unique across processes: a push names the tab it came from so that tab is skipped. */
  private readonly tags = new WeakMap<ChatSocket, string>();
  private readonly process = randomUUID();
  private nextTag = 0;
  private timer: NodeJS.Timeout | undefined;

  /** False when the visitor already has the most tabs allowed. */
  add(clientId: string, socket: ChatSocket): boolean {
    let set = this.byVisitor.get(clientId);
    if (!set) {
      set = new Set();
      this.byVisitor.set(clientId, set);
    }
    if (set.size >= MAX_SOCKETS_PER_VISITOR) return false;
    set.add(socket);
    this.alive.set(socket, true);
    this.tags.set(socket, `${this.process}:${++this.nextTag}`);
    socket.on('pong', () => this.alive.set(socket, true));
    return true;
  }

  remove(clientId: string, socket: ChatSocket): void {
    const set = this.byVisitor.get(clientId);
    if (!set) return;
    set.delete(socket);
    if (set.size === 0) this.byVisitor.delete(clientId);
  }

  /** The socket's tag, once it is added. */
  tagOf(socket: ChatSocket): string | undefined {
    return this.tags.get(socket);
  }

  /** Sends to every open tab of the visitor but `exceptTag`'s; returns how many got it. */
  send(clientId: string, frame: ServerFrame, exceptTag?: string): number {
    const set = this.byVisitor.get(clientId);
    if (!set) return 0;
    const text = JSON.stringify(frame);
    let n = 0;
    for (const s of set) {
      if (s.readyState !== OPEN) continue;
      if (exceptTag !== undefined && this.tags.get(s) === exceptTag) continue;
      s.send(text);
      n++;
    }
    return n;
  }

  visitors(): string[] {
    return [...this.byVisitor.keys()];
  }

  get size(): number {
    let n = 0;
    for (const set of this.byVisitor.values()) n += set.size;
    return n;
  }

  startHeartbeat(everyMs = 30_000): void {
    this.stopHeartbeat();
    this.timer = setInterval(() => {
      for (const set of this.byVisitor.values()) {
        for (const s of set) {
          if (this.alive.get(s) === false) {
            s.terminate();
            continue;
          }
          this.alive.set(s, false);
          try {
            s.ping();
          } catch {
            s.terminate();
          }
        }
      }
    }, everyMs);
    this.timer.unref();
  }

  stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Closes every socket (the pages reconnect, to this process or another). */
  closeAll(code: number, reason: string): void {
    for (const set of this.byVisitor.values()) for (const s of set) s.close(code, reason);
    this.byVisitor.clear();
  }
}
