import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DownloadFailed, DownloadRefused, fileNameFromDisposition, isBlockedAddress, openDownload } from '../../src/net/safe-download.js';
import { embeddedIPv4, ipv6Groups } from '../../src/net/embedded-ipv4.js';
import { freePort } from '../helpers/net.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  url: string;
  port: number;
  hits: string[];
  close(): Promise<void>;
}

async function serve(host: string, handler: Handler): Promise<TestServer> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

const OPEN = { maxBytes: 1024 * 1024, allowPrivate: true, timeoutMs: 5_000 };
const CLOSED = { ...OPEN, allowPrivate: false };

let main: TestServer;

beforeAll(async () => {
  main = await serve('127.0.0.1', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/files/hello.txt':
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '11' });
        res.end('hello world');
        return;
      case '/files/r%C3%A9sum%C3%A9%20final.pdf':
        res.writeHead(200, { 'content-type': 'application/pdf' });
        res.end('%PDF');
        return;
      case '/disposition-star':
        res.writeHead(200, {
          'content-type': 'image/png',
          'content-disposition': `attachment; filename="fallback.png"; filename*=UTF-8''%D1%84%D0%BE%D1%82%D0%BE.png`,
        });
        res.end('png');
        return;
      case '/disposition-plain':
        res.writeHead(200, { 'content-disposition': 'attachment; filename="report \\"Q1\\".xlsx"' });
        res.end('x');
        return;
      case '/disposition-evil':
        res.writeHead(200, { 'content-disposition': 'attachment; filename="../../etc/passwd"' });
        res.end('x');
        return;
      case '/big-declared':
        res.writeHead(200, { 'content-length': String(2048) });
        res.end(Buffer.alloc(2048));
        return;
      case '/big-chunked': {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        // Chunked (no Content-Length), 8 × 512 bytes.
        let n = 0;
        const push = (): void => {
          if (n++ === 8) {
            res.end();
            return;
          }
          res.write(Buffer.alloc(512, 1), push);
        };
        push();
        return;
      }
      case '/missing':
        res.writeHead(404);
        res.end('no');
        return;
      case '/hang-headers':
        return; // never answers
      case '/hang-body':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
        return; // never ends
      default: {
        const m = /^\/redirect\/(\d+)$/.exec(url.pathname);
        if (m) {
          const left = Number(m[1]);
          res.writeHead(302, { location: left > 0 ? `/redirect/${left - 1}` : '/files/hello.txt' });
          res.end();
          return;
        }
        if (url.pathname === '/to') {
          res.writeHead(307, { location: url.searchParams.get('u') ?? '/' });
          res.end();
          return;
        }
        res.writeHead(500);
        res.end();
      }
    }
  });
});

afterAll(async () => {
  await main.close();
});

describe('address policy', () => {
  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.127.255.255',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
  ])('%s is blocked', (ip) => {
    expect(isBlockedAddress(ip)).toBe(true);
  });

  it.each(['8.8.8.8', '1.1.1.1', '100.128.0.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is allowed', (ip) => {
    expect(isBlockedAddress(ip)).toBe(false);
  });

  // IPv6 addresses that lead to an IPv4 host: the embedded IPv4 address decides.
  it.each([
    ['NAT64 64:ff9b::/96, loopback', '64:ff9b::7f00:1'],
    ['NAT64 64:ff9b::/96, metadata (dotted)', '64:ff9b::169.254.169.254'],
    ['NAT64 64:ff9b::/96, RFC 1918 (upper case)', '64:FF9B::A00:1'],
    ['NAT64 local-use 64:ff9b:1::/48, whatever it embeds', '64:ff9b:1::808:808'],
    ['NAT64 local-use 64:ff9b:1::/48, another layout', '64:ff9b:1:7f00:1::'],
    ['6to4 2002::/16, loopback', '2002:7f00:1::1'],
    ['6to4 2002::/16, metadata', '2002:a9fe:a9fe::'],
    ['6to4 2002::/16, 192.168.1.1', '2002:c0a8:101:1::1'],
    ['Teredo 2001::/32, client 127.0.0.1 (XOR-ed)', '2001:0:4136:e378:8000:63bf:80ff:fffe'],
    ['Teredo 2001::/32, client 10.1.2.3 (XOR-ed)', '2001::4136:e378:8000:63bf:f5fe:fdfc'],
    ['Teredo 2001::/32, RFC 4380 example (client 192.0.2.45)', '2001:0000:4136:e378:8000:63bf:3fff:fdd2'],
    ['Teredo 2001::/32, private server', '2001:0:a00:1:8000:63bf:f7f7:f7f7'],
    ['IPv4-mapped, hex', '::ffff:a9fe:a9fe'],
    ['IPv4-translated ::ffff:0:0:0/96', '::ffff:0:7f00:1'],
    ['IPv4-compatible (deprecated), private', '::127.0.0.1'],
    ['IPv4-compatible (deprecated), even public', '::8.8.8.8'],
    ['link-local with a zone id', 'fe80::1%eth0'],
    ['discard-only 100::/64', '100::1'],
    ['documentation 2001:db8::/32', '2001:db8::1'],
  ])('%s: %s is blocked', (_what, ip) => {
    expect(isBlockedAddress(ip)).toBe(true);
  });

  it.each([
    ['NAT64 of 8.8.8.8', '64:ff9b::808:808'],
    ['6to4 of 8.8.8.8', '2002:808:808::1'],
    ['Teredo, public server, client 8.8.8.8', '2001:0:4136:e378:8000:63bf:f7f7:f7f7'],
    ['IPv4-translated of 8.8.8.8', '::ffff:0:808:808'],
    ['an ordinary global address that starts like Teredo', '2001:4860:4860::8888'],
  ])('%s: %s is allowed', (_what, ip) => {
    expect(isBlockedAddress(ip)).toBe(false);
  });
});

describe('embedded IPv4 addresses', () => {
  it('parses IPv6 text into its eight groups, with ::, a dotted tail and a zone id', () => {
    expect(ipv6Groups('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(ipv6Groups('2001:db8::1')).toEqual([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    expect(ipv6Groups('64:ff9b::192.0.2.33')).toEqual([0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x221]);
    expect(ipv6Groups('fe80::1%eth0')).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 1]);
    expect(ipv6Groups('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ipv6Groups('127.0.0.1')).toBeUndefined();
  });

  it('decodes the IPv4 address of each transition form', () => {
    expect(embeddedIPv4('::ffff:127.0.0.1')).toEqual(['127.0.0.1']);
    expect(embeddedIPv4('64:ff9b::a9fe:a9fe')).toEqual(['169.254.169.254']);
    expect(embeddedIPv4('2002:c000:221::')).toEqual(['192.0.2.33']);
    // RFC 4380's example: server 65.54.227.120, client 192.0.2.45 (stored XOR-ed with ones).
    expect(embeddedIPv4('2001:0:4136:e378:8000:63bf:3fff:fdd2')).toEqual(['65.54.227.120', '192.0.2.45']);
    expect(embeddedIPv4('2606:4700:4700::1111')).toEqual([]);
  });
});

describe('openDownload', () => {
  it('refuses a loopback literal unless allowPrivate, without connecting', async () => {
    const before = main.hits.length;
    const err = await rejection(openDownload(`${main.url}/files/hello.txt`, CLOSED));
    expect(err).toBeInstanceOf(DownloadRefused);
    expect((err as DownloadRefused).code).toBe('private_address');
    const mapped = await rejection(openDownload(`http://[::ffff:127.0.0.1]:${main.port}/files/hello.txt`, CLOSED));
    expect((mapped as DownloadRefused).code).toBe('private_address');
    expect(main.hits.length).toBe(before);
  });

  it('refuses loopback reached through NAT64 or 6to4 before connecting, where a dual-stack server listens', async () => {
    const server = await serve('::', (_req, res) => res.end('reached'));
    try {
      for (const host of ['[64:ff9b::7f00:1]', '[2002:7f00:1::1]', '[::ffff:7f00:1]']) {
        const err = await rejection(openDownload(`http://${host}:${server.port}/x`, CLOSED));
        expect(err, host).toBeInstanceOf(DownloadRefused);
        expect((err as DownloadRefused).code).toBe('private_address');
      }
      expect(server.hits).toEqual([]);
      // The server is reachable: only the policy stood in the way.
      const d = await openDownload(`http://[::ffff:7f00:1]:${server.port}/x`, OPEN);
      expect((await readAll(d.stream)).toString()).toBe('reached');
    } finally {
      await server.close();
    }
  });

  it('refuses a name that resolves to loopback at connect time', async () => {
    const before = main.hits.length;
    const err = await rejection(openDownload(`http://localhost:${main.port}/files/hello.txt`, CLOSED));
    expect(err).toBeInstanceOf(DownloadRefused);
    expect((err as DownloadRefused).code).toBe('private_address');
    expect((err as Error).message).toContain('localhost');
    expect(main.hits.length).toBe(before);
  });

  it('downloads from loopback when allowPrivate, with type, size and name', async () => {
    const d = await openDownload(`${main.url}/files/hello.txt?sig=secret-token`, OPEN);
    expect(d.contentType).toBe('text/plain; charset=utf-8');
    expect(d.size).toBe(11);
    expect(d.fileName).toBe('hello.txt');
    expect((await readAll(d.stream)).toString()).toBe('hello world');
  });

  it.each(['ftp://example.com/file.txt', 'file:///etc/passwd', 'gopher://example.com/'])('refuses %s', async (url) => {
    const err = await rejection(openDownload(url, OPEN));
    expect(err).toBeInstanceOf(DownloadRefused);
    expect((err as DownloadRefused).code).toBe('scheme');
    expect((err as Error).message).toContain(new URL(url).protocol);
  });

  it('refuses something that is not a URL', async () => {
    const err = await rejection(openDownload('not a url', OPEN));
    expect((err as DownloadRefused).code).toBe('bad_url');
  });

  it('refuses up front when Content-Length is over the cap', async () => {
    const err = await rejection(openDownload(`${main.url}/big-declared`, { ...OPEN, maxBytes: 1000 }));
    expect(err).toBeInstanceOf(DownloadRefused);
    expect((err as DownloadRefused).code).toBe('too_large');
  });

  it('errors the stream once a chunked body goes over the cap', async () => {
    const d = await openDownload(`${main.url}/big-chunked`, { ...OPEN, maxBytes: 1500 });
    expect(d.size).toBeUndefined();
    const err = await rejection(readAll(d.stream));
    expect(err).toBeInstanceOf(DownloadRefused);
    expect((err as DownloadRefused).code).toBe('too_large');
  });

  it('streams a chunked body within the cap in full', async () => {
    const d = await openDownload(`${main.url}/big-chunked`, { ...OPEN, maxBytes: 4096 });
    expect((await readAll(d.stream)).length).toBe(4096);
  });

  it('follows up to 3 redirects and refuses a 4th', async () => {
    const ok = await openDownload(`${main.url}/redirect/2`, OPEN); // 3 redirects in all
    expect((await readAll(ok.stream)).toString()).toBe('hello world');
    expect(ok.fileName).toBe('hello.txt');
    const err = await rejection(openDownload(`${main.url}/redirect/3`, OPEN));
    expect(err).toBeInstanceOf(DownloadRefused);
    expect((err as DownloadRefused).code).toBe('too_many_redirects');
  });

  it('re-checks the scheme of every redirect', async () => {
    const err = await rejection(openDownload(`${main.url}/to?u=${encodeURIComponent('file:///etc/passwd')}`, OPEN));
    expect((err as DownloadRefused).code).toBe('scheme');
  });

  it('re-checks the address of every redirect, literal and resolved', async () => {
    // Only loopback is available in tests: 127.0.0.2 plays a public host, 127.0.0.1 an internal one.
    const blockAddress = (ip: string): boolean => ip !== '127.0.0.2';
    const target = main; // on 127.0.0.1
    const front = await serve('127.0.0.2', (req, res) => {
      const to = req.url === '/literal' ? `${target.url}/files/hello.txt` : `http://localhost:${target.port}/files/hello.txt`;
      res.writeHead(302, { location: to });
      res.end();
    });
    try {
      const before = target.hits.length;
      for (const path of ['/literal', '/by-name']) {
        const err = await rejection(openDownload(`${front.url}${path}`, { ...CLOSED, blockAddress }));
        expect(err).toBeInstanceOf(DownloadRefused);
        expect((err as DownloadRefused).code).toBe('private_address');
      }
      expect(front.hits).toEqual(['/literal', '/by-name']);
      expect(target.hits.length).toBe(before);
    } finally {
      await front.close();
    }
  });

  it('takes the file name from Content-Disposition filename*= first', async () => {
    const d = await openDownload(`${main.url}/disposition-star`, OPEN);
    expect(d.fileName).toBe('фото.png');
    expect(d.contentType).toBe('image/png');
    d.stream.resume();
  });

  it('takes the file name from Content-Disposition filename= (quoted, escaped)', async () => {
    const d = await openDownload(`${main.url}/disposition-plain`, OPEN);
    expect(d.fileName).toBe('report Q1.xlsx');
    expect(d.contentType).toBeUndefined();
    d.stream.resume();
  });

  it('strips directories from a hostile file name', async () => {
    const d = await openDownload(`${main.url}/disposition-evil`, OPEN);
    expect(d.fileName).toBe('passwd');
    d.stream.resume();
  });

  it('takes the file name from the URL path, decoded', async () => {
    const d = await openDownload(`${main.url}/files/r%C3%A9sum%C3%A9%20final.pdf`, OPEN);
    expect(d.fileName).toBe('résumé final.pdf');
    d.stream.resume();
  });

  it('has no file name when neither header nor path gives one', () => {
    expect(fileNameFromDisposition('inline')).toBeUndefined();
    expect(fileNameFromDisposition(undefined)).toBeUndefined();
    expect(fileNameFromDisposition("attachment; filename*=iso-8859-1'en'%E9t%E9.txt")).toBe('été.txt');
  });

  it('reports an HTTP error status without the URL path or query', async () => {
    const err = await rejection(openDownload(`${main.url}/missing?token=s3cr3t`, OPEN));
    expect(err).toBeInstanceOf(DownloadFailed);
    expect((err as DownloadFailed).status).toBe(404);
    expect((err as Error).message).toContain('404');
    expect((err as Error).message).not.toContain('s3cr3t');
    expect((err as Error).message).not.toContain('/missing');
  });

  it('reports a refused connection as a network failure', async () => {
    const port = await freePort();
    const err = await rejection(openDownload(`http://127.0.0.1:${port}/x`, OPEN));
    expect(err).toBeInstanceOf(DownloadFailed);
    expect((err as DownloadFailed).code).toBe('network');
    expect((err as Error).message).toContain('ECONNREFUSED');
  });

  it('times out waiting for headers', async () => {
    const err = await rejection(openDownload(`${main.url}/hang-headers`, { ...OPEN, timeoutMs: 150 }));
    expect(err).toBeInstanceOf(DownloadFailed);
    expect((err as DownloadFailed).code).toBe('timeout');
  });

  it('errors the stream when the body stalls', async () => {
    const d = await openDownload(`${main.url}/hang-body`, { ...OPEN, timeoutMs: 150 });
    const err = await rejection(readAll(d.stream));
    expect(err).toBeInstanceOf(DownloadFailed);
    expect((err as DownloadFailed).code).toBe('timeout');
  });
});
