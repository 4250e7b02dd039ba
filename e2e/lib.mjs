// Shared by run.mjs (the headless test) and demo.mjs (two tabs for a person).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ChimeSDKMeetingsClient } from '@aws-sdk/client-chime-sdk-meetings';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PAGE_DIR = path.join(HERE, 'page');

// The API client, with the key from CONVENE_* (or the AWS_* variables `convene serve` prints).
export function makeClient(endpoint, region = process.env.CONVENE_REGION || 'us-east-1') {
  // Node 20 is fine for the pinned SDK; its notice about future versions is only noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new ChimeSDKMeetingsClient({
    region,
    endpoint,
    credentials: {
      accessKeyId: process.env.CONVENE_ACCESS_KEY_ID || process.env.AWS_ACCESS_KEY_ID || 'AKIDEXAMPLE',
      secretAccessKey: process.env.CONVENE_SECRET_ACCESS_KEY || process.env.AWS_SECRET_ACCESS_KEY || 'secret',
    },
    maxAttempts: 1,
  });
}

// Static server for page/ (index.html, bundle.js). host 127.0.0.1 and port 0 (a free port) by default.
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json' };
// `redirects` maps extra paths (e.g. "/alice") to the URLs they redirect to.
export function startStaticServer({ host = '127.0.0.1', port = 0, redirects = new Map() } = {}) {
  const server = http.createServer((req, res) => {
    let rel;
    try {
      rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      rel = '/';
    }
    if (redirects.has(rel)) {
      res.writeHead(302, { location: redirects.get(rel), 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (rel === '/') rel = '/index.html';
    const file = path.join(PAGE_DIR, path.normalize(rel));
    if (req.method !== 'GET' || !file.startsWith(PAGE_DIR + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

// The URL of the page for one attendee (the JSON documents ride in the query string).
export function pageUrl(base, meeting, attendee, extra = {}) {
  const q = new URLSearchParams({ meeting: JSON.stringify(meeting), attendee: JSON.stringify(attendee), ...extra });
  return `${base}/index.html?${q}`;
}

export const bundleBuilt = () => fs.existsSync(path.join(PAGE_DIR, 'bundle.js'));
