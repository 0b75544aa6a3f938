/**
 * The floor: an HTTP server that reads each POST and answers 200 at once — no parsing, no queue,
 * no forward. Under the latency scenario's open loop its acknowledgement p99 is what this machine
 * (its scheduler, the loopback and the load generator) adds to any server's, the bridge's included.
 */
import http from 'node:http';
import { serveSubject } from './shapes.js';

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
});
serveSubject(server);
