// Test page for Convene's media plane: the unmodified amazon-chime-sdk-js joins a meeting.
//
// A person can use it (paste the CreateMeeting and CreateAttendee JSON, press Join) and the
// headless harness (run.mjs) drives it through the same code with URL query parameters:
//   index.html?meeting=<Meeting JSON>&attendee=<Attendee JSON>[&autojoin=1][&loglevel=DEBUG]
// Both JSON documents may be the whole response ({"Meeting":{...}}) or just the object.
//
// Everything the harness asserts on is exposed as `window.convene` (see `api` below).
//
// Import only from the package index: deep imports hit a CommonJS cycle in the bundle.
import {
  ConsoleLogger,
  DefaultDeviceController,
  DefaultMeetingSession,
  LogLevel,
  MeetingSessionConfiguration,
  MeetingSessionStatusCode,
  Versioning,
} from 'amazon-chime-sdk-js';

const t0 = Date.now();
const now = () => Date.now() - t0;

// ---- state the harness reads -------------------------------------------------------------
const state = {
  sdkVersion: Versioning.sdkVersion,
  joining: false, // join() was called
  joined: false, // audioVideoDidStart fired (kept true after a later stop)
  started: false, // the session is started now (true between didStart and didStop)
  startedAt: null,
  starts: [], // page times of every audioVideoDidStart (a reconnect that succeeds adds one)
  connecting: [], // audioVideoDidStartConnecting(reconnecting) calls: {t, reconnecting}
  stopped: null, // audioVideoDidStop: {t, code, name, isFailure, isTerminal}
  presence: [], // realtimeSubscribeToAttendeeIdPresence: {t, attendeeId, present, externalUserId, dropped}
  events: [], // EventController events (meetingStartRequested, meetingStartSucceeded, meetingFailed, ...)
  sockets: [], // every WebSocket the page opened: {t, url, opened, closed: {t, code, reason, wasClean}, errors}
  errors: [], // exceptions thrown by join()/leave() and unhandled rejections
  attendeeId: null,
  meetingId: null,
};

// ---- WebSocket instrumentation (observes the SDK's signaling socket; changes nothing) ------
const NativeWebSocket = window.WebSocket;
class ObservedWebSocket extends NativeWebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    const rec = { t: now(), url: String(url), opened: null, closed: null, errors: 0, protocol: null };
    state.sockets.push(rec);
    this.addEventListener('open', () => {
      rec.opened = now();
      rec.protocol = this.protocol;
    });
    this.addEventListener('error', () => {
      rec.errors += 1;
    });
    this.addEventListener('close', (e) => {
      rec.closed = { t: now(), code: e.code, reason: e.reason, wasClean: e.wasClean };
      console.log(`[convene-page] signaling socket closed code=${e.code} reason=${JSON.stringify(e.reason)} clean=${e.wasClean}`);
    });
  }
}
window.WebSocket = ObservedWebSocket;

window.addEventListener('unhandledrejection', (e) => {
  state.errors.push({ t: now(), where: 'unhandledrejection', message: String(e.reason && (e.reason.stack || e.reason)) });
});

// ---- session ------------------------------------------------------------------------------
let meetingSession = null;
let statsTimer = null;

function parseJson(label, text) {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${label} is not valid JSON: ${e.message}`);
  }
}

function statusName(code) {
  return MeetingSessionStatusCode[code] ?? String(code);
}

async function join(meetingJson, attendeeJson, opts = {}) {
  if (state.joining) throw new Error('join() was already called on this page; reload to join again');
  state.joining = true;
  try {
    const meeting = parseJson('Meeting', meetingJson);
    const attendee = parseJson('Attendee', attendeeJson);
    const level = LogLevel[String(opts.logLevel || 'INFO').toUpperCase()] ?? LogLevel.INFO;
    const logger = new ConsoleLogger('convene', level);
    const deviceController = new DefaultDeviceController(logger);
    const configuration = new MeetingSessionConfiguration(meeting, attendee);
    state.meetingId = configuration.meetingId;
    state.attendeeId = configuration.credentials && configuration.credentials.attendeeId;
    if (!configuration.urls || !configuration.urls.signalingURL) throw new Error('Meeting has no MediaPlacement.SignalingUrl');
    if (!state.attendeeId || !configuration.credentials.joinToken) throw new Error('Attendee has no AttendeeId or JoinToken');
    meetingSession = new DefaultMeetingSession(configuration, logger, deviceController);
    const av = meetingSession.audioVideo;

    av.addObserver({
      audioVideoDidStartConnecting(reconnecting) {
        state.connecting.push({ t: now(), reconnecting });
        show(reconnecting ? 'reconnecting…' : 'connecting…');
      },
      audioVideoDidStart() {
        state.joined = true;
        state.started = true;
        state.startedAt = now();
        state.starts.push(state.startedAt);
        show('joined: audio session started');
      },
      audioVideoDidStop(status) {
        const code = status.statusCode();
        state.started = false;
        state.stopped = { t: now(), code, name: statusName(code), isFailure: status.isFailure(), isTerminal: status.isTerminal() };
        show(`stopped: ${statusName(code)} (${code})`);
      },
    });
    if (meetingSession.eventController) {
      meetingSession.eventController.addObserver({
        eventDidReceive(name, attributes) {
          const a = {};
          for (const k of ['meetingStatus', 'meetingErrorMessage', 'signalingOpenDurationMs', 'meetingStartDurationMs', 'attendeePresenceDurationMs', 'retryCount']) {
            if (attributes && attributes[k] !== undefined) a[k] = attributes[k];
          }
          state.events.push({ t: now(), name, ...a });
          console.log(`[convene-page] event ${name} ${JSON.stringify(a)}`);
        },
      });
    }
    av.realtimeSubscribeToAttendeeIdPresence((attendeeId, present, externalUserId, dropped) => {
      state.presence.push({ t: now(), attendeeId, present, externalUserId, dropped: !!dropped });
      renderPresence();
    });

    // Default audio input: the browser's default microphone (with Chromium's fake-device flags,
    // the fake capture device or the WAV file given by --use-file-for-fake-audio-capture).
    const inputs = await av.listAudioInputDevices().catch(() => []);
    const preferred = inputs.find((d) => d.deviceId === 'default') || inputs.find((d) => d.deviceId);
    const device = preferred ? preferred.deviceId : { echoCancellation: true };
    await av.startAudioInput(device);
    await av.bindAudioElement(document.getElementById('audio'));
    show('starting…');
    av.start();
    statsTimer = setInterval(renderStats, 1000);
  } catch (e) {
    state.errors.push({ t: now(), where: 'join', message: String(e && (e.stack || e)) });
    show(`join failed: ${e && e.message}`);
    throw e;
  }
}

async function leave() {
  if (!meetingSession) return;
  try {
    meetingSession.audioVideo.stop();
    await meetingSession.audioVideo.stopAudioInput();
  } catch (e) {
    state.errors.push({ t: now(), where: 'leave', message: String(e && (e.stack || e)) });
  }
}

// Inbound audio of this page's peer connection, from the SDK's public stats API.
// Returns null before the peer connection exists or when there is no inbound audio RTP yet.
async function audioStats() {
  if (!meetingSession) return null;
  let report;
  try {
    report = await meetingSession.audioVideo.getRTCPeerConnectionStats();
  } catch (e) {
    return null;
  }
  if (!report) return null;
  let found = null;
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && (s.kind === 'audio' || s.mediaType === 'audio')) {
      found = found || { packetsReceived: 0, bytesReceived: 0, totalAudioEnergy: 0, audioLevel: 0, packetsLost: 0, jitter: 0, ssrc: [] };
      found.packetsReceived += s.packetsReceived || 0;
      found.bytesReceived += s.bytesReceived || 0;
      found.totalAudioEnergy += s.totalAudioEnergy || 0;
      found.audioLevel = Math.max(found.audioLevel, s.audioLevel || 0);
      found.packetsLost += s.packetsLost || 0;
      found.jitter = Math.max(found.jitter, s.jitter || 0);
      found.ssrc.push(s.ssrc);
    }
  });
  return found;
}

// Outbound audio too, to tell "nothing sent" from "nothing forwarded" when debugging.
async function outboundAudioStats() {
  if (!meetingSession) return null;
  const report = await meetingSession.audioVideo.getRTCPeerConnectionStats().catch(() => null);
  if (!report) return null;
  let found = null;
  report.forEach((s) => {
    if (s.type === 'outbound-rtp' && (s.kind === 'audio' || s.mediaType === 'audio')) {
      found = found || { packetsSent: 0, bytesSent: 0 };
      found.packetsSent += s.packetsSent || 0;
      found.bytesSent += s.bytesSent || 0;
    }
  });
  return found;
}

// ---- the small UI for people ---------------------------------------------------------------
function show(text) {
  const el = document.getElementById('status');
  if (el) el.textContent = text;
  console.log(`[convene-page] status: ${text}`);
}

function renderPresence() {
  const el = document.getElementById('presence');
  if (!el) return;
  const current = new Map();
  for (const p of state.presence) current.set(p.attendeeId, p);
  el.textContent = [...current.values()]
    .map((p) => `${p.externalUserId || p.attendeeId}${p.attendeeId === state.attendeeId ? ' (you)' : ''}: ${p.present ? 'present' : p.dropped ? 'dropped' : 'left'}`)
    .join('\n') || '(nobody yet)';
}

async function renderStats() {
  const el = document.getElementById('stats');
  if (!el) return;
  const s = await audioStats();
  el.textContent = s
    ? `inbound audio: ${s.packetsReceived} packets, ${s.bytesReceived} bytes, level ${s.audioLevel.toFixed(3)}, energy ${s.totalAudioEnergy.toFixed(4)}`
    : 'inbound audio: none yet';
}

function setupForm() {
  const params = new URLSearchParams(location.search);
  const meetingEl = document.getElementById('meeting');
  const attendeeEl = document.getElementById('attendee');
  const joinEl = document.getElementById('join');
  const leaveEl = document.getElementById('leave');
  if (params.get('meeting')) meetingEl.value = params.get('meeting');
  if (params.get('attendee')) attendeeEl.value = params.get('attendee');
  const logLevel = params.get('loglevel') || 'INFO';
  const doJoin = () => {
    joinEl.disabled = true;
    join(meetingEl.value, attendeeEl.value, { logLevel }).catch(() => {});
  };
  joinEl.addEventListener('click', doJoin);
  leaveEl.addEventListener('click', () => leave());
  if (params.get('autojoin') === '1' && meetingEl.value && attendeeEl.value) doJoin();
}

const api = {
  state,
  join,
  leave,
  audioStats,
  outboundAudioStats,
  get meetingSession() {
    return meetingSession;
  },
};
window.convene = api;

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', setupForm);
} else {
  setupForm();
}
