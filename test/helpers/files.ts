/** A small file server on 127.0.0.1 for the files agents attach to replies (the bridge may fetch from loopback in tests). */
import { LoopbackServer } from '../doubles/server.js';

export interface ServedFile {
  body: Buffer;
  /** The Content-Type answered; none when absent. */
  type?: string;
  /** Sent without a Content-Length, in 64 KiB pieces. */
  chunked?: boolean;
}

export interface FileServer {
  url: string;
  /** Every request's URL, in arrival order. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `files` by path (e.g. '/photo.png'); anything else is 404. */
export async function startFileServer(files: Record<string, ServedFile>): Promise<FileServer> {
  const requests: string[] = [];
  const server = new LoopbackServer(
    async (req, res) => {
      requests.push(req.url ?? '');
      const f = files[new URL(req.url ?? '/', 'http://x').pathname];
      if (!f) return void res.writeHead(404).end('not found');
      res.writeHead(200, { ...(f.type ? { 'content-type': f.type } : {}), ...(f.chunked ? {} : { 'content-length': f.body.length }) });
      if (!f.chunked) return void res.end(f.body);
      for (let i = 0; i < f.body.length; i += 64 * 1024) res.write(f.body.subarray(i, i + 64 * 1024));
      res.end();
    },
    (res, err) => res.writeHead(500).end(String(err)),
  );
  await server.listen();
  return { url: server.origin, requests, close: () => server.close() };
}
