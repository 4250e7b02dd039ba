// End-to-end test of Convene's media plane with the unmodified browser SDK.
//
// Three headless Chromium tabs run amazon-chime-sdk-js 3.32.0 (page/, bundled by `npm run build`)
// with Chromium's fake camera and a generated tone as microphone, join one meeting created
// through Convene's API with the official JS SDK v3, and must: hear each other; show the other
// two camera tiles with rising decoded frames; receive a content share started from a canvas
// (and lose it when Content=None and when it ends); get each other's data messages with the
// right sender; report volume indicators; follow Audio, Video=None and Content=None updates
// live; then DeleteAttendee must disconnect one tab and DeleteMeeting the others.
//
// Usage (from e2e/, after `npm ci && npm run build`):
//   CONVENE_ENDPOINT=http://127.0.0.1:8080 \
//   CONVENE_ACCESS_KEY_ID=AKIDEXAMPLE CONVENE_SECRET_ACCESS_KEY=secret node run.mjs
//
// Environment:
//   CONVENE_ENDPOINT           API base URL of a running server (required)
//   CONVENE_ACCESS_KEY_ID      key Convene knows (else AWS_ACCESS_KEY_ID, else AKIDEXAMPLE)
//   CONVENE_SECRET_ACCESS_KEY  its secret (else AWS_SECRET_ACCESS_KEY, else secret)
//   CONVENE_REGION             region of the signed requests (default us-east-1)
//   CHROMIUM                   browser executable (default /usr/bin/chromium)
//   E2E_ARTIFACTS              directory for browser.log, summary.json, tone.wav (default e2e/artifacts)
//   E2E_LOGLEVEL               SDK ConsoleLogger level in the pages: DEBUG, INFO, WARN, ERROR (default INFO)
//   E2E_HOLD_SECONDS=N         keep the call up N more seconds before the deletions, then check
//                              again that audio flows and nothing reconnected (default 0)
//   E2E_HEADFUL=1              show the browser windows (needs a display)
//
// Exit status 0 if every check passed, 1 otherwise (2: setup problem). The last line printed is
// always "e2e: N passed, M failed". The whole run is bounded (TOTAL_TIMEOUT_MS).

import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import {
  CreateAttendeeCommand,
  CreateMeetingCommand,
  DeleteAttendeeCommand,
  DeleteMeetingCommand,
  UpdateAttendeeCapabilitiesCommand,
} from '@aws-sdk/client-chime-sdk-meetings';
import { chromium } from 'playwright-core';

import { HERE, bundleBuilt, makeClient, pageUrl, startStaticServer } from './lib.mjs';

const require = createRequire(import.meta.url);

const ENDPOINT = (process.env.CONVENE_ENDPOINT || '').trim().replace(/\/+$/, '');
const REGION = process.env.CONVENE_REGION || 'us-east-1';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(process.env.E2E_ARTIFACTS || path.join(HERE, 'artifacts'));
const LOGLEVEL = process.env.E2E_LOGLEVEL || 'INFO';
const HOLD_MS = Math.max(0, Number(process.env.E2E_HOLD_SECONDS || 0)) * 1000;
const HEADFUL = ['1', 'true', 'yes'].includes(String(process.env.E2E_HEADFUL || '').toLowerCase());

const TOTAL_TIMEOUT_MS = 240_000 + HOLD_MS; // hard stop for the whole run
const VIDEO_TIMEOUT_MS = 40_000; // first remote tiles with pictures, on a busy 2-core machine
const TILE_TIMEOUT_MS = 25_000; // a tile appears or goes after a change
const FRAMES_WINDOW_MS = 2_000; // decoded frames must rise across this window
const JOIN_TIMEOUT_MS = 35_000; // the SDK's own connection timeout is 15 s; allow one retry
const PRESENCE_TIMEOUT_MS = 10_000;
const FIRST_AUDIO_TIMEOUT_MS = 15_000;
const AUDIO_WINDOW_MS = 4_000; // stats are compared across this window
const MIN_PACKETS_IN_WINDOW = 100; // Opus at 20 ms is 50 packets/s: 200 expected in 4 s
const DISCONNECT_TIMEOUT_MS = 20_000;
const STAY_DISCONNECTED_MS = 4_000;

const t0 = Date.now();
const elapsed = () => ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
const log = (msg) => console.log(`[${elapsed()}s] ${msg}`);

// ---- results ----------------------------------------------------------------------------
const results = [];
const figures = {}; // measured figures, printed at the end
function check(name, ok, detail = '') {
  results.push({ name, ok: !!ok, detail });
  log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
  return !!ok;
}
let finished = false;
function finish(code) {
  if (finished) return;
  finished = true;
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  try {
    fs.writeFileSync(path.join(ARTIFACTS, 'summary.json'), JSON.stringify({ endpoint: ENDPOINT, results, figures, pages: summaries }, null, 2));
  } catch {}
  if (failed) {
    console.log('failed checks:');
    for (const r of results.filter((x) => !x.ok)) console.log(`  - ${r.name}${r.detail ? `: ${r.detail}` : ''}`);
  }
  console.log(`browser log: ${path.join(ARTIFACTS, 'browser.log')}`);
  console.log(`figures: ${JSON.stringify({ ...figures, seconds: Math.round((Date.now() - t0) / 1000) })}`);
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(code ?? (failed || passed === 0 ? 1 : 0));
}

// ---- helpers ------------------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll fn() until it returns a truthy value or the time is up; returns the last value.
async function poll(fn, timeoutMs, intervalMs = 250) {
  const end = Date.now() + timeoutMs;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() >= end) return v;
    await sleep(intervalMs);
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]);
}

// A 48 kHz mono 16-bit WAV of a warbling tone (three pitches, 200 ms each, with soft edges),
// so the fake microphone has steady non-zero energy that noise suppression does not remove.
function writeToneWav(file, seconds = 3) {
  const rate = 48_000;
  const n = rate * seconds;
  const data = Buffer.alloc(n * 2);
  const freqs = [440, 554.37, 659.25];
  const seg = rate / 5;
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const k = Math.floor(i / seg);
    const pos = i % seg;
    const edge = Math.min(1, pos / 480, (seg - pos) / 480); // 10 ms fades
    phase += (2 * Math.PI * freqs[k % freqs.length]) / rate;
    const v = Math.sin(phase) * 0.5 * edge;
    data.writeInt16LE(Math.round(v * 32767), i * 2);
  }
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8);
  h.write('fmt ', 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  fs.writeFileSync(file, Buffer.concat([h, data]));
}

// Decoder for the signaling frames (0x05 + protobuf SdkSignalFrame), using the SDK's own
// generated code, so the log shows exactly what the server sent.
const { SdkSignalFrame } = require('amazon-chime-sdk-js/build/signalingprotocol/SignalingProtocol.js');
function decodeFrame(payload) {
  if (typeof payload === 'string') return { text: payload.slice(0, 200) };
  const buf = Buffer.from(payload);
  if (buf.length === 0) return { error: 'empty message' };
  if (buf[0] !== 0x05 && buf[0] !== 0x02) return { error: `unexpected first byte 0x${buf[0].toString(16)} (want 0x05)`, hex: buf.subarray(0, 32).toString('hex') };
  try {
    const obj = SdkSignalFrame.toObject(SdkSignalFrame.decode(buf.subarray(1)), { enums: String, longs: Number, bytes: String });
    return { frame: obj };
  } catch (e) {
    return { error: `protobuf decode failed: ${e.message}`, hex: buf.subarray(0, 64).toString('hex') };
  }
}
function frameSummary(obj) {
  const f = { ...obj };
  delete f.timestampMs;
  const s = JSON.stringify(f, (k, v) => (typeof v === 'string' && v.length > 300 ? `${v.slice(0, 120)}…(${v.length} chars)` : v));
  return s.length > 600 ? `${s.slice(0, 600)}…` : s;
}

// ---- the run ------------------------------------------------------------------------------
const summaries = {};
const allTabs = [];
let browser = null;
let staticServer = null;
let client = null;
let meetingId = null;
let meetingDeleted = false;
let logStream = null;

function blog(who, line) {
  if (logStream) logStream.write(`${new Date().toISOString()} [${who}] ${line}\n`);
}

async function cleanup() {
  if (client && meetingId && !meetingDeleted) {
    await withTimeout(client.send(new DeleteMeetingCommand({ MeetingId: meetingId })), 5000, 'DeleteMeeting (cleanup)').catch(() => {});
  }
  if (browser) await withTimeout(browser.close(), 10_000, 'browser.close').catch(() => {});
  if (staticServer) {
    staticServer.closeAllConnections?.();
    staticServer.close();
  }
  if (logStream) await new Promise((r) => logStream.end(r));
}

const watchdog = setTimeout(async () => {
  check('the run finishes in time', false, `still running after ${TOTAL_TIMEOUT_MS / 1000} s`);
  await withTimeout(cleanup(), 10_000, 'cleanup').catch(() => {});
  finish(1);
}, TOTAL_TIMEOUT_MS);
watchdog.unref();

// One attendee's tab: the page, its signaling frame trace and helpers to read window.convene.
class Tab {
  constructor(name, attendee) {
    this.name = name;
    this.attendee = attendee;
    this.frames = []; // {t, dir, type, frame}
    this.wsErrors = []; // WebSocket errors seen by the browser (handshake failures and the like)
    this.page = null;
    this.notes = new Set(); // things worth knowing that are not checks (printed at the end)
  }

  async open(context, baseUrl, meeting) {
    const page = (this.page = await context.newPage());
    const who = this.name;
    page.on('console', (m) => {
      const text = m.text();
      if (/blocked by CORS policy/.test(text)) {
        const url = (/at '([^']+)'/.exec(text) || [])[1] || '?';
        this.notes.add(`a request to ${url} was blocked by CORS (the page is on another origin)`);
      }
      blog(who, `console.${m.type()}: ${text}`);
    });
    page.on('pageerror', (e) => blog(who, `PAGE ERROR: ${e.stack || e.message}`));
    page.on('requestfailed', (r) => blog(who, `request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) blog(who, `HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
    });
    page.on('websocket', (ws) => {
      blog(who, `websocket open ${ws.url()}`);
      ws.on('framesent', ({ payload }) => this.onFrame('C→S', payload));
      ws.on('framereceived', ({ payload }) => this.onFrame('S→C', payload));
      ws.on('socketerror', (e) => {
        this.wsErrors.push(String(e));
        blog(who, `websocket error: ${e}`);
      });
      ws.on('close', () => blog(who, `websocket closed ${ws.url()}`));
    });
    await page.goto(pageUrl(baseUrl, meeting, this.attendee, { autojoin: '1', loglevel: LOGLEVEL, video: '1', small: '1' }), { waitUntil: 'load', timeout: 15_000 });
  }

  onFrame(dir, payload) {
    const d = decodeFrame(payload);
    const type = d.frame ? d.frame.type : d.error ? 'UNDECODABLE' : 'TEXT';
    this.frames.push({ t: Date.now(), dir, type, frame: d.frame });
    if (d.frame) blog(this.name, `${dir} ${type} ${frameSummary(d.frame)}`);
    else blog(this.name, `${dir} ${d.error || 'text'} ${d.hex || d.text || ''}`);
  }

  // Compact trace of the signaling frames, e.g. ">JOIN <JOIN_ACK <INDEX >SUBSCRIBE <SUBSCRIBE_ACK >PING_PONG×3".
  frameTrace(since = 0) {
    const out = [];
    for (const f of this.frames) {
      if (f.t < since) continue;
      const s = `${f.dir === 'C→S' ? '>' : '<'}${f.type}`;
      const last = out[out.length - 1];
      if (last && last.s === s) last.n += 1;
      else out.push({ s, n: 1 });
    }
    return out.map((x) => (x.n > 1 ? `${x.s}×${x.n}` : x.s)).join(' ');
  }

  state() {
    return this.page.evaluate(() => {
      const s = window.convene && window.convene.state;
      return s ? JSON.parse(JSON.stringify(s)) : null;
    });
  }

  audioStats() {
    return this.page.evaluate(() => (window.convene ? window.convene.audioStats() : null));
  }

  outboundStats() {
    return this.page.evaluate(() => (window.convene ? window.convene.outboundAudioStats() : null));
  }

  tiles() {
    return this.page.evaluate(() => (window.convene ? window.convene.tileFrames() : {}));
  }

  call(fn, ...args) {
    return this.page.evaluate(([f, a]) => window.convene[f](...a), [fn, args]);
  }
}

function describeState(s) {
  if (!s) return 'no window.convene';
  const parts = [];
  parts.push(`joined=${s.joined}`);
  if (s.stopped) parts.push(`stopped=${s.stopped.name}(${s.stopped.code})`);
  if (s.connecting.length) parts.push(`connecting×${s.connecting.length}${s.connecting.some((c) => c.reconnecting) ? ' (reconnects)' : ''}`);
  const closed = s.sockets.filter((x) => x.closed);
  parts.push(`sockets=${s.sockets.length}${closed.length ? ` closed:[${closed.map((x) => x.closed.code).join(',')}]` : ''}`);
  const failed = s.events.filter((e) => /Fail/i.test(e.name));
  if (failed.length) parts.push(`events:${failed.map((e) => `${e.name}${e.meetingStatus ? `(${e.meetingStatus})` : ''}${e.meetingErrorMessage ? ` "${e.meetingErrorMessage}"` : ''}`).join(';')}`);
  if (s.errors.length) parts.push(`errors:${s.errors.map((e) => e.message.split('\n')[0]).join(' | ')}`);
  return parts.join(', ');
}

// Wait until the tab is disconnected after `mark` (a snapshot of its state taken before the
// API call): audioVideoDidStop fired, or a signaling socket closed. Returns a description.
async function waitDisconnected(tab, mark) {
  const closedBefore = mark.sockets.filter((x) => x.closed).length;
  const s = await poll(async () => {
    const st = await tab.state();
    if (st.stopped) return st;
    if (st.sockets.filter((x) => x.closed).length > closedBefore) return st;
    return null;
  }, DISCONNECT_TIMEOUT_MS);
  if (!s) return { ok: false, state: await tab.state() };
  // Give audioVideoDidStop a moment to follow a socket close, to record its status code.
  const st = s.stopped ? s : (await poll(async () => ((await tab.state()).stopped ? tab.state() : null), 3000)) || (await tab.state());
  const newlyClosed = st.sockets.filter((x) => x.closed).slice(closedBefore);
  return { ok: true, state: st, closed: newlyClosed.map((x) => x.closed) };
}

async function main() {
  if (!ENDPOINT) {
    console.error('CONVENE_ENDPOINT is not set (the API base URL of a running Convene server, e.g. http://127.0.0.1:8080)');
    process.exit(2);
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  logStream = fs.createWriteStream(path.join(ARTIFACTS, 'browser.log'));
  log(`endpoint ${ENDPOINT}; artifacts in ${ARTIFACTS}`);

  if (!bundleBuilt()) {
    log('page/bundle.js is missing: running `npm run build`');
    const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: HERE, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error('the page bundle did not build');
      process.exit(2);
    }
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`no browser at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`);
    process.exit(2);
  }
  const wav = path.join(ARTIFACTS, 'tone.wav');
  writeToneWav(wav);

  // 1. Control plane: a meeting and two attendees, through the official JS SDK v3.
  client = makeClient(ENDPOINT, REGION);
  let meeting;
  try {
    const out = await withTimeout(
      client.send(new CreateMeetingCommand({ ClientRequestToken: randomUUID(), MediaRegion: REGION, ExternalMeetingId: `e2e-${Date.now()}` })),
      10_000,
      'CreateMeeting',
    );
    meeting = out.Meeting;
    meetingId = meeting.MeetingId;
    check('CreateMeeting', !!meetingId, `MeetingId ${meetingId}`);
  } catch (e) {
    check('CreateMeeting', false, `${e.name}: ${e.message}`);
    return;
  }
  const signalingUrl = meeting.MediaPlacement && meeting.MediaPlacement.SignalingUrl;
  check(
    'MediaPlacement.SignalingUrl is a ws(s) URL without a query',
    /^wss?:\/\/[^?]+$/.test(signalingUrl || ''),
    `${signalingUrl}; AudioHostUrl ${meeting.MediaPlacement && meeting.MediaPlacement.AudioHostUrl}; EventIngestionUrl ${meeting.MediaPlacement && meeting.MediaPlacement.EventIngestionUrl}`,
  );

  const attendees = {};
  for (const user of ['alice', 'bob', 'carol']) {
    try {
      const out = await withTimeout(client.send(new CreateAttendeeCommand({ MeetingId: meetingId, ExternalUserId: user })), 10_000, 'CreateAttendee');
      attendees[user] = out.Attendee;
      // The token travels as a WebSocket subprotocol, so it must be RFC 7230 token characters.
      const tokenOk = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(out.Attendee.JoinToken || '');
      check(`CreateAttendee ${user} (JoinToken usable as a WebSocket subprotocol)`, tokenOk, `AttendeeId ${out.Attendee.AttendeeId}`);
    } catch (e) {
      check(`CreateAttendee ${user}`, false, `${e.name}: ${e.message}`);
      return;
    }
  }

  // 2. Browser and pages.
  staticServer = await startStaticServer();
  const baseUrl = `http://127.0.0.1:${staticServer.address().port}`;
  log(`page served at ${baseUrl}/index.html`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: !HEADFUL,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`,
      '--autoplay-policy=no-user-gesture-required',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  log(`browser ${browser.version()}`);
  const context = await browser.newContext();
  await context.grantPermissions(['microphone'], { origin: baseUrl }).catch(() => {});
  const alice = new Tab('alice', attendees.alice);
  const bob = new Tab('bob', attendees.bob);
  const carol = new Tab('carol', attendees.carol);
  const tabs = [alice, bob, carol];
  allTabs.push(alice, bob, carol);
  for (const tab of tabs) {
    if (tab === carol) {
      // Carol joins late: after alice's and bob's cameras are on, so that tiles must appear
      // for someone who joins later as well as for those already there.
      const on = await poll(async () => {
        const [a, b] = await Promise.all([alice.state(), bob.state()]);
        return a && b && a.camera && a.camera.started && b.camera && b.camera.started;
      }, JOIN_TIMEOUT_MS);
      log(`carol joins late (${on ? "alice's and bob's cameras are on" : 'the first cameras did not start in time'})`);
    }
    try {
      await tab.open(context, baseUrl, meeting);
      const st = await tab.state();
      check(`${tab.name}: page loads the SDK bundle`, st && st.sdkVersion, st ? `amazon-chime-sdk-js ${st.sdkVersion}` : 'window.convene missing (see browser.log)');
    } catch (e) {
      check(`${tab.name}: page loads`, false, e.message);
      return;
    }
  }

  // 3. All join: audioVideoDidStart.
  log(`waiting for the tabs to start (up to ${JOIN_TIMEOUT_MS / 1000} s)`);
  const joinEnd = Date.now() + JOIN_TIMEOUT_MS;
  let allJoined = true;
  for (const tab of tabs) {
    const st = await poll(async () => {
      const s = await tab.state();
      return s && (s.joined || (s.stopped && s.stopped.isTerminal)) ? s : null;
    }, Math.max(0, joinEnd - Date.now()));
    const s = st || (await tab.state());
    const ok = !!(s && s.joined);
    allJoined = allJoined && ok;
    const wsErr = tab.wsErrors.length ? `; websocket errors ×${tab.wsErrors.length}, first: ${tab.wsErrors[0]}` : '';
    check(`${tab.name}: joins (audioVideoDidStart)`, ok, ok ? `started ${(s.startedAt / 1000).toFixed(1)} s after page load; frames: ${tab.frameTrace()}` : `${describeState(s)}; frames: ${tab.frameTrace() || 'none'}${wsErr}`);
  }
  if (!allJoined) {
    log('a tab did not join: skipping the media checks (see browser.log for the SDK log and every signaling frame)');
    await deletions(alice, bob, carol, false);
    return;
  }

  // 4. Presence: each tab sees both attendees present.
  const ids = tabs.map((t) => t.attendee.AttendeeId);
  for (const tab of tabs) {
    const present = async () => {
      const s = await tab.state();
      const last = new Map();
      for (const p of s.presence) last.set(p.attendeeId, p.present);
      return ids.every((id) => last.get(id) === true) ? s : null;
    };
    const s = (await poll(present, PRESENCE_TIMEOUT_MS)) || (await tab.state());
    const seen = s.presence.map((p) => `${p.externalUserId || p.attendeeId}:${p.present}`).join(' ');
    check(`${tab.name}: sees alice, bob and carol present`, await present(), `presence events: ${seen || 'none'}`);
  }

  // 5. Audio: each tab receives packets with rising energy.
  log(`waiting for inbound audio in both tabs (up to ${FIRST_AUDIO_TIMEOUT_MS / 1000} s)`);
  await Promise.all(
    tabs.map(async (tab) => {
      tab.firstAudio = await poll(async () => {
        const a = await tab.audioStats();
        return a && a.packetsReceived > 0 ? a : null;
      }, FIRST_AUDIO_TIMEOUT_MS);
    }),
  );
  for (const tab of tabs) {
    if (tab.firstAudio) continue;
    const other = tabs.find((t) => t !== tab);
    const detail = `no inbound audio RTP in ${FIRST_AUDIO_TIMEOUT_MS / 1000} s (inbound stats ${JSON.stringify(await tab.audioStats())}; this tab sent ${JSON.stringify(await tab.outboundStats())}; ${other.name} sent ${JSON.stringify(await other.outboundStats())})`;
    check(`${tab.name}: receives audio packets`, false, detail);
    check(`${tab.name}: received audio energy rises`, false, 'no audio');
  }
  const samples = new Map(tabs.map((t) => [t, []]));
  const windowEnd = Date.now() + AUDIO_WINDOW_MS;
  while (Date.now() < windowEnd) {
    for (const tab of tabs) if (tab.firstAudio) samples.get(tab).push(await tab.audioStats());
    await sleep(1000);
  }
  for (const tab of tabs) {
    if (!tab.firstAudio) continue;
    const ss = samples.get(tab).filter(Boolean);
    ss.push(await tab.audioStats());
    const a = ss[0];
    const b = ss[ss.length - 1];
    const dp = b.packetsReceived - a.packetsReceived;
    const db = b.bytesReceived - a.bytesReceived;
    const de = b.totalAudioEnergy - a.totalAudioEnergy;
    const maxLevel = Math.max(...ss.map((x) => x.audioLevel));
    log(`${tab.name} inbound audio: ${ss.map((x) => `${x.packetsReceived}p/${x.totalAudioEnergy.toFixed(4)}e/${x.audioLevel.toFixed(3)}l`).join(' → ')}`);
    check(`${tab.name}: receives audio packets`, dp >= MIN_PACKETS_IN_WINDOW && db > 0, `+${dp} packets, +${db} bytes in ${((ss.length - 1) * 1000) / 1000} s (lost ${b.packetsLost})`);
    check(`${tab.name}: received audio energy rises`, de > 0 && maxLevel > 0, `totalAudioEnergy +${de.toFixed(5)}, max audioLevel ${maxLevel.toFixed(4)}`);
  }

  if (HOLD_MS) {
    log(`holding the call for ${HOLD_MS / 1000} s`);
    const before = await Promise.all(tabs.map((t) => t.audioStats()));
    await sleep(HOLD_MS);
    for (const [i, tab] of tabs.entries()) {
      const after = await tab.audioStats();
      const dp = after && before[i] ? after.packetsReceived - before[i].packetsReceived : 0;
      check(`${tab.name}: audio still flows after ${HOLD_MS / 1000} s`, dp >= (HOLD_MS / 1000) * 25, `+${dp} packets`);
    }
  }
  await cameraTiles(tabs);
  await dataMessages(tabs);
  await volumeIndicators(tabs);
  await contentShare(alice, [bob, carol]);
  await capabilitiesApplyLive(alice, bob, carol);

  // The session must have stayed up: one start, no reconnect, the first socket still open
  // (a content share opens a second one).
  for (const tab of tabs) {
    const s = await tab.state();
    const ok = s.starts.length === 1 && !s.connecting.some((c) => c.reconnecting) && !s.stopped && !s.sockets[0].closed;
    check(`${tab.name}: the session stayed up without reconnecting`, ok, describeState(s));
  }

  await deletions(alice, bob, carol, true);
}

// ---- video, content, data messages, volumes ------------------------------------------------

// The live remote tiles of a tab, by attendee id.
async function liveTiles(tab) {
  const tiles = Object.values(await tab.tiles());
  const out = new Map();
  for (const t of tiles) if (t.present && t.removedAt === null) out.set(t.attendeeId, t);
  return out;
}

// Each page renders the other two camera tiles, and their decoded frames keep rising.
async function cameraTiles(tabs) {
  log(`waiting for camera tiles with pictures in every tab (up to ${VIDEO_TIMEOUT_MS / 1000} s)`);
  const firstFrame = [];
  await Promise.all(
    tabs.map(async (tab) => {
      const others = tabs.filter((t) => t !== tab).map((t) => t.attendee.AttendeeId);
      tab.firstTiles = await poll(async () => {
        const live = await liveTiles(tab);
        return others.every((id) => live.get(id) && live.get(id).frames > 0) ? live : null;
      }, VIDEO_TIMEOUT_MS, 500);
    }),
  );
  for (const tab of tabs) {
    const others = tabs.filter((t) => t !== tab);
    const before = tab.firstTiles || (await liveTiles(tab));
    await sleep(FRAMES_WINDOW_MS / tabs.length);
    const mid = await liveTiles(tab);
    await sleep(FRAMES_WINDOW_MS);
    const after = await liveTiles(tab);
    const parts = [];
    let ok = true;
    for (const o of others) {
      const id = o.attendee.AttendeeId;
      const a = before.get(id);
      const b = after.get(id);
      const rising = a && b && b.frames > a.frames && (mid.get(id)?.frames ?? 0) < b.frames;
      ok = ok && !!rising && !b.isContent;
      parts.push(`${o.name}: ${a ? a.frames : 'no tile'} → ${b ? `${b.frames} frames decoded (${b.keyFrames} key, ${b.packets} packets, ${b.pli} PLI, ${b.nack} NACK) ${b.width}x${b.height}` : 'no tile'}`);
      if (b && b.firstFrameAt !== null) firstFrame.push(b.firstFrameAt - b.createdAt);
    }
    check(`${tab.name}: shows the other two camera tiles with rising decoded frames`, ok, parts.join('; '));
  }
  firstFrame.sort((x, y) => x - y);
  if (firstFrame.length) {
    figures.tileFirstFrameMs = { min: firstFrame[0], median: firstFrame[Math.floor(firstFrame.length / 2)], max: firstFrame[firstFrame.length - 1] };
    log(`figure: a new camera tile showed its first frame after ${firstFrame.join(', ')} ms (tile created → first decoded frame)`);
  }
}

// A data message from one page reaches the other two with the right sender.
async function dataMessages(tabs) {
  const [sender, ...others] = [tabs[1], tabs[0], tabs[2]];
  const text = `hello from ${sender.name} ${Date.now()}`;
  await sender.call('sendChat', text, 0);
  for (const tab of others) {
    const m = await poll(async () => (await tab.state()).messages.find((x) => x.text === text), 10_000);
    check(
      `${tab.name}: receives ${sender.name}'s data message with the right sender`,
      m && m.senderAttendeeId === sender.attendee.AttendeeId && m.senderExternalUserId === sender.name && !m.throttled,
      m ? `from ${m.senderExternalUserId} (${m.senderAttendeeId}), throttled=${m.throttled}` : 'nothing in 10 s',
    );
  }
}

// A volume indicator at one page reports the speaker at another; the active-speaker detector ranks someone.
async function volumeIndicators(tabs) {
  const [listener, speaker] = tabs;
  const v = await poll(async () => {
    const s = await listener.state();
    const x = s.volumes[speaker.attendee.AttendeeId];
    return x && x.maxVolume > 0 ? { x, active: s.activeSpeakers } : null;
  }, 10_000);
  check(
    `${listener.name}: the volume indicator reports ${speaker.name} speaking`,
    !!v,
    v ? `max volume ${v.x.maxVolume.toFixed(2)}, signal ${v.x.signalStrength}, ${v.x.updates} updates; active speakers: ${v.active.length}` : JSON.stringify((await listener.state()).volumes[speaker.attendee.AttendeeId]),
  );
}

// Waits until `pred(tiles)` holds in every tab; returns the tabs where it did not.
async function tilesEverywhere(tabs, pred, ms = TILE_TIMEOUT_MS) {
  const failed = [];
  await Promise.all(
    tabs.map(async (tab) => {
      const ok = await poll(async () => pred(await liveTiles(tab)), ms, 400);
      if (!ok) failed.push(tab);
    }),
  );
  return failed;
}

async function contentShare(sharer, viewers) {
  const contentId = `${sharer.attendee.AttendeeId}#content`;
  const started = Date.now();
  await sharer.call('shareCanvas');
  const st = await sharer.state();
  if (st.content && st.content.error) {
    check(`${sharer.name}: starts a content share from a canvas stream`, false, st.content.error);
    return;
  }
  const failed = await tilesEverywhere(viewers, (live) => live.get(contentId) && live.get(contentId).isContent && live.get(contentId).frames > 0);
  const took = ((Date.now() - started) / 1000).toFixed(1);
  for (const tab of viewers) {
    const a = (await liveTiles(tab)).get(contentId);
    await sleep(1000);
    const b = (await liveTiles(tab)).get(contentId);
    check(
      `${tab.name}: receives ${sharer.name}'s content share (canvas) as a content tile`,
      !failed.includes(tab) && a && b && b.frames > a.frames,
      a && b ? `tile for ${b.attendeeId}, frames ${a.frames} → ${b.frames}, ${b.width}x${b.height}, within ${took} s` : 'no content tile',
    );
  }
  // Content=None for the sharer: the tile goes everywhere; back to SendReceive: it returns.
  await setCaps(sharer, { Content: 'None' });
  let f = await tilesEverywhere(viewers, (live) => !live.get(contentId));
  check(`Content=None for ${sharer.name}: the content tile goes from the other pages`, f.length === 0, f.length ? `still shown at ${f.map((t) => t.name).join(', ')}` : '');
  await setCaps(sharer, { Content: 'SendReceive' });
  f = await tilesEverywhere(viewers, (live) => live.get(contentId) && live.get(contentId).frames > 0);
  check(`Content=SendReceive again: the content tile returns`, f.length === 0, f.length ? `missing at ${f.map((t) => t.name).join(', ')}` : '');
  // Ending the share removes the tile everywhere.
  await sharer.call('stopShare');
  f = await tilesEverywhere(viewers, (live) => !live.get(contentId));
  check(`${sharer.name} ends the share: the content tile goes everywhere`, f.length === 0, f.length ? `still shown at ${f.map((t) => t.name).join(', ')}` : '');
}

const caps = new Map();
async function setCaps(tab, change) {
  const id = tab.attendee.AttendeeId;
  const next = { Audio: 'SendReceive', Video: 'SendReceive', Content: 'SendReceive', ...(caps.get(id) || {}), ...change };
  caps.set(id, next);
  await withTimeout(
    client.send(new UpdateAttendeeCapabilitiesCommand({ MeetingId: meetingId, AttendeeId: id, Capabilities: next })),
    10_000,
    'UpdateAttendeeCapabilities',
  );
}

// 5b. UpdateAttendeeCapabilities applies to the live call: alice on Audio=Receive is no
// longer heard by bob (while she still hears him); back on SendReceive she is heard again.
async function energyOver(tab, ms) {
  const a = await tab.audioStats();
  await sleep(ms);
  const b = await tab.audioStats();
  return a && b ? { de: b.totalAudioEnergy - a.totalAudioEnergy, dp: b.packetsReceived - a.packetsReceived } : { de: 0, dp: 0 };
}

async function capabilitiesApplyLive(alice, bob, carol) {
  // Audio=Receive for alice and carol: bob (who hears their mix) hears nothing; alice still hears bob.
  await Promise.all([setCaps(alice, { Audio: 'Receive' }), setCaps(carol, { Audio: 'Receive' })]);
  // The receiver's jitter buffer may still hold a moment of their audio on a busy machine.
  await sleep(2000);
  const [quiet, stillHears] = await Promise.all([energyOver(bob, 3000), energyOver(alice, 3000)]);
  // Hearing them gives about +2 over 3 s; silence gives 0.
  check('Audio=Receive for alice and carol: bob no longer hears them', quiet.de < 0.05, `bob: totalAudioEnergy +${quiet.de.toFixed(5)}, +${quiet.dp} packets`);
  check('Audio=Receive for alice: she still hears bob', stillHears.de > 0, `alice: totalAudioEnergy +${stillHears.de.toFixed(5)}`);
  await Promise.all([setCaps(alice, { Audio: 'SendReceive' }), setCaps(carol, { Audio: 'SendReceive' })]);
  await sleep(1000);
  const back = await energyOver(bob, 3000);
  check('Audio=SendReceive again: bob hears them again', back.de > 0, `bob: totalAudioEnergy +${back.de.toFixed(5)}, +${back.dp} packets`);

  // Video=None for carol (Content must follow: AWS refuses Content without Video receive):
  // her tile goes from alice and bob, and hers show nobody.
  const carolId = carol.attendee.AttendeeId;
  await setCaps(carol, { Video: 'None', Content: 'None' });
  const f = await tilesEverywhere([alice, bob], (live) => !live.get(carolId));
  check('Video=None for carol: her camera tile goes from alice and bob', f.length === 0, f.length ? `still shown at ${f.map((t) => t.name).join(', ')}` : '');
  const none = await poll(async () => (await liveTiles(carol)).size === 0, TILE_TIMEOUT_MS, 400);
  check('Video=None for carol: she no longer receives the others', none, none ? '' : `tiles: ${[...(await liveTiles(carol)).values()].map((t) => t.externalUserId).join(', ')}`);

  // Video=SendReceive again: new subscriptions to cameras that are already running. The time
  // from such a tile's creation to its first decoded frame is what keyframe relay is for.
  await setCaps(carol, { Video: 'SendReceive', Content: 'SendReceive' });
  const ids = (tab) => [alice, bob, carol].filter((t) => t !== tab).map((t) => t.attendee.AttendeeId);
  const missing = [];
  const took = [];
  await Promise.all(
    [alice, bob, carol].map(async (tab) => {
      const live = await poll(async () => {
        const l = await liveTiles(tab);
        return ids(tab).every((id) => l.get(id) && l.get(id).frames > 0) ? l : null;
      }, TILE_TIMEOUT_MS, 300);
      if (!live) return missing.push(tab.name);
      for (const id of ids(tab)) {
        const t = live.get(id);
        if ((tab === carol || id === carol.attendee.AttendeeId) && t.firstFrameAt !== null) took.push(t.firstFrameAt - t.createdAt);
      }
    }),
  );
  check('Video=SendReceive again for carol: every page shows the two other cameras again', missing.length === 0, missing.length ? `missing at ${missing.join(', ')}` : '');
  took.sort((x, y) => x - y);
  if (took.length) {
    figures.resubscribedTileFirstFrameMs = { min: took[0], median: took[Math.floor(took.length / 2)], max: took[took.length - 1] };
    log(`figure: a tile newly subscribed to a running camera showed its first frame after ${took.join(', ')} ms`);
  }
}

// 6. DeleteAttendee disconnects bob; DeleteMeeting disconnects alice.
async function deletions(alice, bob, carol, joined) {
  const steps = [
    { tab: bob, what: 'DeleteAttendee', expect: 'AudioAttendeeRemoved', cmd: () => new DeleteAttendeeCommand({ MeetingId: meetingId, AttendeeId: bob.attendee.AttendeeId }) },
    { tab: alice, also: carol, what: 'DeleteMeeting', expect: 'MeetingEnded', cmd: () => new DeleteMeetingCommand({ MeetingId: meetingId }) },
  ];
  for (const step of steps) {
    const { tab } = step;
    const mark = joined ? await tab.state() : null;
    const alsoMark = joined && step.also ? await step.also.state() : null;
    const sentAt = Date.now();
    try {
      await withTimeout(client.send(step.cmd()), 10_000, step.what);
      if (step.what === 'DeleteMeeting') meetingDeleted = true;
      check(`${step.what} (API)`, true, step.what === 'DeleteAttendee' ? `attendee ${tab.attendee.AttendeeId} (bob)` : `meeting ${meetingId}`);
    } catch (e) {
      check(`${step.what} (API)`, false, `${e.name}: ${e.message}`);
      continue;
    }
    if (!joined) continue;
    if (step.also) {
      const r2 = await waitDisconnected(step.also, alsoMark);
      check(`${step.what} disconnects ${step.also.name}`, r2.ok, r2.ok ? (r2.state.stopped ? r2.state.stopped.name : 'socket closed') : describeState(r2.state));
    }
    log(`waiting for ${tab.name} to be disconnected (up to ${DISCONNECT_TIMEOUT_MS / 1000} s)`);
    const r = await waitDisconnected(tab, mark);
    const took = ((Date.now() - sentAt) / 1000).toFixed(1);
    if (!r.ok) {
      check(`${step.what} disconnects ${tab.name}`, false, `still connected after ${DISCONNECT_TIMEOUT_MS / 1000} s: ${describeState(r.state)}; frames since: ${tab.frameTrace(sentAt) || 'none'}`);
      continue;
    }
    const st = r.state;
    const how = [];
    if (st.stopped) how.push(`audioVideoDidStop ${st.stopped.name} (${st.stopped.code})`);
    else how.push('audioVideoDidStop not fired (yet)');
    if (r.closed.length) how.push(`signaling closed code ${r.closed.map((c) => `${c.code}${c.reason ? ` "${c.reason}"` : ''}`).join(', ')}`);
    check(`${step.what} disconnects ${tab.name}`, true, `after ${took} s: ${how.join('; ')}; frames since: ${tab.frameTrace(sentAt) || 'none'}`);
    if (!st.stopped || st.stopped.name !== step.expect) log(`note: the real service ends this session with ${step.expect}; here: ${st.stopped ? st.stopped.name : 'no audioVideoDidStop'}`);

    // The SDK reconnects after an unexpected close: the server must not let it back in.
    await sleep(STAY_DISCONNECTED_MS);
    const later = await tab.state();
    const rejoinedAck = tab.frames.some((f) => f.t > sentAt && f.dir === 'S→C' && (f.type === 'JOIN_ACK' || f.type === 'SUBSCRIBE_ACK'));
    const restarted = later.starts.length > mark.starts.length;
    const reconnects = later.connecting.length - mark.connecting.length;
    check(
      `${tab.name} stays disconnected after ${step.what}`,
      !restarted && !rejoinedAck,
      `${restarted ? 'audioVideoDidStart fired again; ' : ''}${rejoinedAck ? 'the server answered a JOIN/SUBSCRIBE after the deletion; ' : ''}${reconnects} reconnect attempts since the deletion; ${describeState(later)}`,
    );
    if (step.what === 'DeleteAttendee') {
      const a = await alice.state();
      const gone = a.presence.some((p) => p.attendeeId === bob.attendee.AttendeeId && p.present === false);
      log(`alice ${gone ? 'saw' : 'did not see'} bob leave (presence false)`);
    }
  }
}

try {
  await main();
} catch (e) {
  check('the run completes without an exception', false, e.stack || e.message);
}
for (const tab of allTabs) {
  for (const n of tab.notes) log(`note (${tab.name}): ${n}`);
  const st = await withTimeout(tab.state(), 3000, 'state').catch(() => null);
  summaries[tab.name] = { attendeeId: tab.attendee.AttendeeId, state: st, frames: tab.frameTrace() };
}
await withTimeout(cleanup(), 15_000, 'cleanup').catch((e) => log(e.message));
finish();
