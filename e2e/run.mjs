// End-to-end test of Convene's media plane with the unmodified browser SDK.
//
// Two headless Chromium tabs run amazon-chime-sdk-js 3.32.0 (page/, bundled by `npm run build`),
// join one meeting created through Convene's API with the official JS SDK v3, and must hear
// each other; then DeleteAttendee must disconnect one tab and DeleteMeeting the other.
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

const TOTAL_TIMEOUT_MS = 170_000 + HOLD_MS; // hard stop for the whole run
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
    fs.writeFileSync(path.join(ARTIFACTS, 'summary.json'), JSON.stringify({ endpoint: ENDPOINT, results, pages: summaries }, null, 2));
  } catch {}
  if (failed) {
    console.log('failed checks:');
    for (const r of results.filter((x) => !x.ok)) console.log(`  - ${r.name}${r.detail ? `: ${r.detail}` : ''}`);
  }
  console.log(`browser log: ${path.join(ARTIFACTS, 'browser.log')}`);
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
    await page.goto(pageUrl(baseUrl, meeting, this.attendee, { autojoin: '1', loglevel: LOGLEVEL }), { waitUntil: 'load', timeout: 15_000 });
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
  for (const user of ['alice', 'bob']) {
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
  const tabs = [alice, bob];
  allTabs.push(alice, bob);
  for (const tab of tabs) {
    try {
      await tab.open(context, baseUrl, meeting);
      const st = await tab.state();
      check(`${tab.name}: page loads the SDK bundle`, st && st.sdkVersion, st ? `amazon-chime-sdk-js ${st.sdkVersion}` : 'window.convene missing (see browser.log)');
    } catch (e) {
      check(`${tab.name}: page loads`, false, e.message);
      return;
    }
  }

  // 3. Both join: audioVideoDidStart.
  log(`waiting for both tabs to start (up to ${JOIN_TIMEOUT_MS / 1000} s)`);
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
    await deletions(alice, bob, false);
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
    check(`${tab.name}: sees alice and bob present`, await present(), `presence events: ${seen || 'none'}`);
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
  await capabilitiesApplyLive(alice, bob);

  // The session must have stayed up: one start, no reconnect, the first socket still open.
  for (const tab of tabs) {
    const s = await tab.state();
    const ok = s.starts.length === 1 && !s.connecting.some((c) => c.reconnecting) && !s.stopped && s.sockets.length === 1 && !s.sockets[0].closed;
    check(`${tab.name}: the session stayed up without reconnecting`, ok, describeState(s));
  }

  await deletions(alice, bob, true);
}

// 5b. UpdateAttendeeCapabilities applies to the live call: alice on Audio=Receive is no
// longer heard by bob (while she still hears him); back on SendReceive she is heard again.
async function energyOver(tab, ms) {
  const a = await tab.audioStats();
  await sleep(ms);
  const b = await tab.audioStats();
  return a && b ? { de: b.totalAudioEnergy - a.totalAudioEnergy, dp: b.packetsReceived - a.packetsReceived } : { de: 0, dp: 0 };
}

async function capabilitiesApplyLive(alice, bob) {
  const setAlice = (audio) =>
    withTimeout(
      client.send(
        new UpdateAttendeeCapabilitiesCommand({
          MeetingId: meetingId,
          AttendeeId: alice.attendee.AttendeeId,
          Capabilities: { Audio: audio, Video: 'SendReceive', Content: 'SendReceive' },
        }),
      ),
      10_000,
      'UpdateAttendeeCapabilities',
    );
  await setAlice('Receive');
  await sleep(1000);
  const [quiet, stillHears] = await Promise.all([energyOver(bob, 3000), energyOver(alice, 3000)]);
  check('Audio=Receive for alice: bob no longer hears her', quiet.de < 0.001, `bob: totalAudioEnergy +${quiet.de.toFixed(5)}, +${quiet.dp} packets`);
  check('Audio=Receive for alice: she still hears bob', stillHears.de > 0, `alice: totalAudioEnergy +${stillHears.de.toFixed(5)}`);
  await setAlice('SendReceive');
  await sleep(1000);
  const back = await energyOver(bob, 3000);
  check('Audio=SendReceive again: bob hears alice again', back.de > 0, `bob: totalAudioEnergy +${back.de.toFixed(5)}, +${back.dp} packets`);
}

// 6. DeleteAttendee disconnects bob; DeleteMeeting disconnects alice.
async function deletions(alice, bob, joined) {
  const steps = [
    { tab: bob, what: 'DeleteAttendee', expect: 'AudioAttendeeRemoved', cmd: () => new DeleteAttendeeCommand({ MeetingId: meetingId, AttendeeId: bob.attendee.AttendeeId }) },
    { tab: alice, what: 'DeleteMeeting', expect: 'MeetingEnded', cmd: () => new DeleteMeetingCommand({ MeetingId: meetingId }) },
  ];
  for (const step of steps) {
    const { tab } = step;
    const mark = joined ? await tab.state() : null;
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
