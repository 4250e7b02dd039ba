// End-to-end test of a meeting's media across two Convene nodes, with the unmodified browser SDK.
//
// Two nodes share one PostgreSQL database. Two headless Chromium tabs (amazon-chime-sdk-js
// 3.32.0, page/) join one meeting; each tab's SignalingUrl leads to its own small TCP "load
// balancer" that prefers one node and fails over to the other: alice's prefers node A, bob's
// node B. Alice joins first, so node A hosts the meeting; bob's signaling lands on node B, which
// relays it to node A, whose SDP answer sends bob's media straight to node A. They must hear each
// other. Then node A is killed (SIGKILL): node B closes bob's relayed socket (4503), alice's
// socket drops with node A, both SDKs reconnect by themselves to the same SignalingUrl, both land
// on node B, which takes the meeting over once node A's heartbeat expires, and they must hear
// each other again, now with node B's media address.
//
// Usage (from e2e/, after `npm ci && npm run build`, with target/debug/convene built):
//   node cluster.mjs
//
// Environment:
//   CONVENE_BIN             server binary (default ../target/debug/convene)
//   CONVENE_TEST_POSTGRES   admin URL of the PostgreSQL server (default
//                           postgres://postgres@127.0.0.1:5432/postgres); a database of its own
//                           is created with psql and dropped at the end
//   CONVENE_TEST_DB_PREFIX  prefix of that database's name (default convene_e2e_)
//   CHROMIUM                browser executable (default /usr/bin/chromium)
//   E2E_ARTIFACTS           directory for cluster-browser.log and the nodes' logs (default e2e/artifacts)
//
// Exit status 0 if every check passed, 1 otherwise (2: setup problem). The last line printed is
// always "e2e cluster: N passed, M failed". Latencies are printed, never asserted.

import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { CreateAttendeeCommand, CreateMeetingCommand, DeleteMeetingCommand } from '@aws-sdk/client-chime-sdk-meetings';
import { chromium } from 'playwright-core';

import { HERE, bundleBuilt, makeClient, pageUrl, startStaticServer } from './lib.mjs';

const BIN = path.resolve(process.env.CONVENE_BIN || path.join(HERE, '..', 'target', 'debug', 'convene'));
const ADMIN = process.env.CONVENE_TEST_POSTGRES || 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = `${process.env.CONVENE_TEST_DB_PREFIX || 'convene_e2e_'}cluster_${process.pid}`;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(process.env.E2E_ARTIFACTS || path.join(HERE, 'artifacts'));
const REGION = 'us-east-1';
const KEY = { id: process.env.CONVENE_ACCESS_KEY_ID || 'AKIDEXAMPLE', secret: process.env.CONVENE_SECRET_ACCESS_KEY || 'secret' };

const TOTAL_TIMEOUT_MS = 240_000;
const JOIN_TIMEOUT_MS = 35_000;
const FIRST_AUDIO_TIMEOUT_MS = 15_000;
const AUDIO_WINDOW_MS = 4_000;
const MIN_PACKETS_IN_WINDOW = 100; // 50 packets/s expected: 200 in 4 s
// The SDK reconnects with backoff; node B takes over once node A's heartbeat is 5 s old.
const RECOVER_TIMEOUT_MS = 90_000;

const t0 = Date.now();
const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function poll(fn, timeoutMs, intervalMs = 250) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() >= end) return v;
    await sleep(intervalMs);
  }
}

const results = [];
const figures = {};
function check(name, ok, detail = '') {
  results.push({ name, ok: !!ok, detail });
  log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
  return !!ok;
}

// ---- the nodes, the database, the load balancers ------------------------------------------
const nodes = [];
let dbCreated = false;
function psql(sql) {
  return spawnSync('psql', [ADMIN, '-qAtc', sql], { encoding: 'utf8' });
}

// Starts `convene serve` on the shared database; resolves with {name, proc, addr, media}.
function startNode(name, publicUrl) {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), `convene-e2e-${name}-`));
  const logFile = path.join(ARTIFACTS, `cluster-node-${name}.log`);
  const out = fs.openSync(logFile, 'w');
  const proc = spawn(
    BIN,
    ['serve', '--listen', '127.0.0.1:0', '--media-listen', '127.0.0.1:0', '--data-dir', data, '--database-url', `${ADMIN.replace(/\/[^/]*$/, '')}/${DB}`, '--public-url', publicUrl],
    {
      env: { ...process.env, CONVENE_ACCESS_KEY_ID: KEY.id, CONVENE_SECRET_ACCESS_KEY: KEY.secret, CONVENE_LOG: 'convene=debug,info', NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', out],
    },
  );
  const node = { name, proc, data, logFile, addr: null, media: null, alive: true };
  nodes.push(node);
  proc.on('exit', () => {
    node.alive = false;
  });
  return poll(() => {
    const text = fs.readFileSync(logFile, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
    const addr = /convene listening on http:\/\/(\S+)/.exec(text);
    const media = /advertised=(\S+)/.exec(text);
    if (addr && media) {
      node.addr = addr[1];
      node.media = media[1];
      return node;
    }
    return !node.alive ? Promise.reject(new Error(`node ${name} exited:\n${text}`)) : null;
  }, 30_000, 100).then((n) => n || Promise.reject(new Error(`node ${name} did not start (see ${logFile})`)));
}

// A TCP load balancer that tries its backends in order for each connection (the first one that
// accepts gets it), so it fails over when its preferred node is gone.
function failoverProxy() {
  const p = { backends: [], sockets: new Set(), server: null, port: 0 };
  p.server = net.createServer((client) => {
    p.sockets.add(client);
    client.on('close', () => p.sockets.delete(client));
    client.on('error', () => {});
    const attempt = (i) => {
      if (i >= p.backends.length) return client.destroy();
      const up = net.connect(p.backends[i]);
      let connected = false;
      up.once('connect', () => {
        connected = true;
        p.sockets.add(up);
        client.pipe(up);
        up.pipe(client);
      });
      up.on('error', () => {
        if (!connected) attempt(i + 1);
        else client.destroy();
      });
      up.on('close', () => {
        p.sockets.delete(up);
        if (connected) client.destroy();
      });
      client.on('close', () => up.destroy());
    };
    attempt(0);
  });
  return new Promise((resolve) =>
    p.server.listen(0, '127.0.0.1', () => {
      p.port = p.server.address().port;
      resolve(p);
    }),
  );
}

// ---- tabs ------------------------------------------------------------------------------------
let browser = null;
let staticServer = null;
let client = null;
let meetingId = null;
let logStream = null;
const proxies = [];
const blog = (who, line) => logStream && logStream.write(`${new Date().toISOString()} [${who}] ${line}\n`);

class Tab {
  constructor(name, attendee) {
    this.name = name;
    this.attendee = attendee;
    this.page = null;
  }
  async open(context, baseUrl, meeting) {
    const page = (this.page = await context.newPage());
    page.on('console', (m) => blog(this.name, `console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => blog(this.name, `PAGE ERROR: ${e.stack || e.message}`));
    page.on('websocket', (ws) => {
      blog(this.name, `websocket open ${ws.url()}`);
      ws.on('close', () => blog(this.name, `websocket closed ${ws.url()}`));
    });
    await page.goto(pageUrl(baseUrl, meeting, this.attendee, { autojoin: '1', loglevel: 'INFO' }), { waitUntil: 'load', timeout: 15_000 });
  }
  state() {
    return this.page.evaluate(() => (window.convene ? JSON.parse(JSON.stringify(window.convene.state)) : null));
  }
  audioStats() {
    return this.page.evaluate(() => (window.convene ? window.convene.audioStats() : null));
  }
  // The address (ip:port) of the server end of the peer connection's selected candidate pair:
  // where this tab sends its media.
  mediaPeer() {
    return this.page.evaluate(async () => {
      const session = window.convene && window.convene.meetingSession;
      if (!session) return null;
      const report = await session.audioVideo.getRTCPeerConnectionStats().catch(() => null);
      if (!report) return null;
      const byId = new Map();
      report.forEach((s) => byId.set(s.id, s));
      let pair = null;
      report.forEach((s) => {
        if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
      });
      if (!pair) report.forEach((s) => { if (s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated) pair = pair || s; });
      const remote = pair && byId.get(pair.remoteCandidateId);
      return remote ? `${remote.address || remote.ip}:${remote.port}` : null;
    });
  }
}

// Packets and energy over AUDIO_WINDOW_MS, once packets are arriving. With `since` (a time),
// records in figures how long after it the first packets were seen.
async function audioFlows(tab, label, since = null) {
  const first = await poll(async () => {
    const a = await tab.audioStats();
    return a && a.packetsReceived > 0 ? a : null;
  }, FIRST_AUDIO_TIMEOUT_MS);
  if (since !== null) figures[`${tab.name}AudioBackMs`] = first ? Date.now() - since : null;
  if (!first) return check(`${tab.name}: ${label}`, false, `no inbound audio in ${FIRST_AUDIO_TIMEOUT_MS / 1000} s`);
  await sleep(AUDIO_WINDOW_MS);
  const last = await tab.audioStats();
  const dp = last.packetsReceived - first.packetsReceived;
  const de = last.totalAudioEnergy - first.totalAudioEnergy;
  return check(`${tab.name}: ${label}`, dp >= MIN_PACKETS_IN_WINDOW && de > 0, `+${dp} packets, energy +${de.toFixed(5)} in ${AUDIO_WINDOW_MS / 1000} s`);
}

async function waitJoined(tab, since = 0) {
  const s = await poll(async () => {
    const st = await tab.state();
    return st && st.starts.length > since ? st : null;
  }, JOIN_TIMEOUT_MS);
  return s;
}

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  logStream = fs.createWriteStream(path.join(ARTIFACTS, 'cluster-browser.log'));
  if (!fs.existsSync(BIN)) {
    console.error(`no server binary at ${BIN} (cargo build first, or set CONVENE_BIN)`);
    process.exit(2);
  }
  if (!bundleBuilt()) {
    const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: HERE, stdio: 'inherit' });
    if (r.status !== 0) process.exit(2);
  }
  const created = psql(`CREATE DATABASE ${DB}`);
  if (created.status !== 0) {
    console.error(`cannot create database ${DB} on ${ADMIN}: ${created.stderr || created.error}`);
    process.exit(2);
  }
  dbCreated = true;

  // Alice's load balancer prefers node A, bob's node B. The API and MediaPlacement name
  // alice's; bob's page gets the same SignalingUrl on his own.
  const [lbA, lbB] = [await failoverProxy(), await failoverProxy()];
  proxies.push(lbA, lbB);
  const publicUrl = `http://127.0.0.1:${lbA.port}`;
  const a = await startNode('a', publicUrl);
  const b = await startNode('b', publicUrl);
  lbA.backends = [{ host: '127.0.0.1', port: Number(a.addr.split(':')[1]) }, { host: '127.0.0.1', port: Number(b.addr.split(':')[1]) }];
  lbB.backends = [lbA.backends[1], lbA.backends[0]];
  log(`node a ${a.addr} (media ${a.media}), node b ${b.addr} (media ${b.media}); load balancers: alice :${lbA.port}, bob :${lbB.port}`);

  client = makeClient(publicUrl, REGION);
  const meeting = (await client.send(new CreateMeetingCommand({ ClientRequestToken: randomUUID(), MediaRegion: REGION, ExternalMeetingId: `e2e-cluster-${Date.now()}` }))).Meeting;
  meetingId = meeting.MeetingId;
  const attendees = {};
  for (const user of ['alice', 'bob']) {
    attendees[user] = (await client.send(new CreateAttendeeCommand({ MeetingId: meetingId, ExternalUserId: user }))).Attendee;
  }
  const signaling = meeting.MediaPlacement.SignalingUrl;
  check('SignalingUrl names the public URL (the load balancer)', signaling.startsWith(`ws://127.0.0.1:${lbA.port}/control/`), signaling);
  const bobMeeting = JSON.parse(JSON.stringify(meeting));
  bobMeeting.MediaPlacement.SignalingUrl = signaling.replace(`:${lbA.port}/`, `:${lbB.port}/`);

  staticServer = await startStaticServer();
  const baseUrl = `http://127.0.0.1:${staticServer.address().port}`;
  const wav = path.join(ARTIFACTS, 'cluster-tone.wav');
  writeTone(wav);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`, '--autoplay-policy=no-user-gesture-required', '--disable-background-networking', '--no-first-run'],
  });
  const context = await browser.newContext();
  await context.grantPermissions(['microphone'], { origin: baseUrl }).catch(() => {});
  const alice = new Tab('alice', attendees.alice);
  const bob = new Tab('bob', attendees.bob);

  // Alice first: node A takes the meeting. Then bob, through node B.
  await alice.open(context, baseUrl, meeting);
  const sa = await waitJoined(alice);
  if (!check('alice joins through node A', sa, sa ? '' : JSON.stringify(await alice.state()))) return;
  const bobStart = Date.now();
  await bob.open(context, baseUrl, bobMeeting);
  const sb = await waitJoined(bob);
  if (!check('bob joins through node B (relayed to node A)', sb, sb ? '' : JSON.stringify(await bob.state()))) return;
  figures.bobJoinMs = Date.now() - bobStart;
  const relayed = fs.readFileSync(b.logFile, 'utf8').includes('signaling relayed to the hosting node');
  check("node B relayed bob's signaling to node A", relayed, `see ${b.logFile}`);
  await Promise.all([audioFlows(alice, 'hears bob (both on node A)'), audioFlows(bob, 'hears alice (both on node A)')]);
  for (const tab of [alice, bob]) {
    const peer = await tab.mediaPeer();
    check(`${tab.name}: sends media to node A's media address`, peer === a.media, `${peer}`);
  }

  // Node A dies.
  const starts = { alice: (await alice.state()).starts.length, bob: (await bob.state()).starts.length };
  a.proc.kill('SIGKILL');
  const killed = Date.now();
  log('node A killed (SIGKILL)');
  const back = await Promise.all(
    [alice, bob].map(async (tab) => {
      const s = await poll(async () => {
        const st = await tab.state();
        return st && st.starts.length > starts[tab.name] ? st : null;
      }, RECOVER_TIMEOUT_MS, 500);
      figures[`${tab.name}RejoinedMs`] = s ? Date.now() - killed : null;
      return check(`${tab.name}: the SDK reconnects by itself after node A dies`, s, s ? `${((Date.now() - killed) / 1000).toFixed(1)} s after the kill` : JSON.stringify(await tab.state()));
    }),
  );
  if (!back.every(Boolean)) return;
  const closes = (await bob.state()).sockets.filter((x) => x.closed).map((x) => x.closed.code);
  check("bob's relayed socket was closed with 4503 (the SDK reconnects on it)", closes.includes(4503), `close codes ${closes.join(',')}`);
  await Promise.all([audioFlows(alice, 'hears bob again (node B took over)', killed), audioFlows(bob, 'hears alice again (node B took over)', killed)]);
  for (const tab of [alice, bob]) {
    const peer = await tab.mediaPeer();
    check(`${tab.name}: now sends media to node B's media address`, peer === b.media, `${peer}`);
  }
}

// A 48 kHz mono WAV of a warbling tone, for the fake microphone.
function writeTone(file, seconds = 3) {
  const rate = 48_000;
  const n = rate * seconds;
  const data = Buffer.alloc(n * 2);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    phase += (2 * Math.PI * [440, 554.37, 659.25][Math.floor(i / (rate / 5)) % 3]) / rate;
    data.writeInt16LE(Math.round(Math.sin(phase) * 0.5 * 32767), i * 2);
  }
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  fs.writeFileSync(file, Buffer.concat([h, data]));
}

async function cleanup() {
  if (client && meetingId) await client.send(new DeleteMeetingCommand({ MeetingId: meetingId })).catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (staticServer) {
    staticServer.closeAllConnections?.();
    staticServer.close();
  }
  for (const p of proxies) {
    for (const s of p.sockets) s.destroy();
    p.server.close();
  }
  for (const n of nodes) {
    if (n.alive) n.proc.kill('SIGTERM');
  }
  await poll(() => nodes.every((n) => !n.alive), 10_000, 100);
  for (const n of nodes) fs.rmSync(n.data, { recursive: true, force: true });
  if (dbCreated) psql(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  if (logStream) await new Promise((r) => logStream.end(r));
}

function finish() {
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  for (const r of results.filter((x) => !x.ok)) console.log(`  failed: ${r.name}${r.detail ? `: ${r.detail}` : ''}`);
  console.log(`figures (measured, not asserted): ${JSON.stringify(figures)}`);
  console.log(`logs: ${ARTIFACTS}/cluster-browser.log, cluster-node-a.log, cluster-node-b.log`);
  console.log(`e2e cluster: ${passed} passed, ${failed} failed`);
  process.exit(failed || passed === 0 ? 1 : 0);
}

const watchdog = setTimeout(async () => {
  check('the run finishes in time', false, `still running after ${TOTAL_TIMEOUT_MS / 1000} s`);
  await cleanup().catch(() => {});
  finish();
}, TOTAL_TIMEOUT_MS);
watchdog.unref();

main()
  .catch((e) => check('the run completes', false, e.stack || String(e)))
  .finally(async () => {
    await cleanup().catch((e) => log(`cleanup: ${e.message}`));
    finish();
  });
