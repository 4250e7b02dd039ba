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
  DefaultActiveSpeakerPolicy,
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
  camera: null, // local camera: {started, error}
  tiles: {}, // remote video tiles by tileId: {tileId, attendeeId, externalUserId, isContent, active, createdAt, firstFrameAt, removedAt}
  content: null, // this page's content share: {started, stopped, error}
  messages: [], // data messages received: {t, topic, text, senderAttendeeId, senderExternalUserId, throttled, timestampMs}
  sent: [], // data messages sent: {t, topic, text}
  volumes: {}, // realtimeSubscribeToVolumeIndicator by attendeeId: {volume, maxVolume, muted, signalStrength, updates, t}
  activeSpeakers: [], // the active-speaker detector's last ranking
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
      videoTileDidUpdate(tile) {
        if (!tile.boundAttendeeId || tile.localTile) return;
        if (!tile.active && !tile.boundVideoStream) return;
        let rec = state.tiles[tile.tileId];
        if (!rec) {
          rec = state.tiles[tile.tileId] = {
            tileId: tile.tileId,
            attendeeId: tile.boundAttendeeId,
            externalUserId: tile.boundExternalUserId,
            isContent: !!tile.isContent,
            active: tile.active,
            createdAt: now(),
            firstFrameAt: null,
            removedAt: null,
          };
          console.log(`[convene-page] tile ${tile.tileId} for ${tile.boundExternalUserId} (${tile.boundAttendeeId})${tile.isContent ? ' content' : ''}`);
        }
        rec.active = tile.active;
        rec.removedAt = null;
        const el = tileElement(tile.tileId, tile.boundExternalUserId || tile.boundAttendeeId, tile.isContent);
        meetingSession.audioVideo.bindVideoElement(tile.tileId, el);
        watchFrames(rec, el);
      },
      videoTileWasRemoved(tileId) {
        const rec = state.tiles[tileId];
        if (rec) rec.removedAt = now();
        const box = document.getElementById(`tile-${tileId}`);
        if (box) box.remove();
        console.log(`[convene-page] tile ${tileId} removed`);
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
      if (present && !state.volumes[attendeeId]) {
        state.volumes[attendeeId] = { externalUserId, volume: null, maxVolume: 0, muted: null, signalStrength: null, updates: 0, t: null };
        av.realtimeSubscribeToVolumeIndicator(attendeeId, (id, volume, muted, signalStrength) => {
          const v = state.volumes[id];
          if (!v) return;
          v.updates += 1;
          v.t = now();
          if (volume !== null) {
            v.volume = volume;
            v.maxVolume = Math.max(v.maxVolume, volume);
          }
          if (muted !== null) v.muted = muted;
          if (signalStrength !== null) v.signalStrength = signalStrength;
        });
      }
      renderPresence();
    });
    av.subscribeToActiveSpeakerDetector(new DefaultActiveSpeakerPolicy(), (ids) => {
      state.activeSpeakers = ids;
    });
    av.realtimeSubscribeToReceiveDataMessage(CHAT_TOPIC, (m) => {
      const text = new TextDecoder().decode(m.data);
      state.messages.push({ t: now(), topic: m.topic, text, senderAttendeeId: m.senderAttendeeId, senderExternalUserId: m.senderExternalUserId, throttled: m.throttled, timestampMs: m.timestampMs });
      renderChat();
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
    if (opts.video) {
      await waitFor(() => state.started, 30_000);
      await startCamera(opts.small);
    }
  } catch (e) {
    state.errors.push({ t: now(), where: 'join', message: String(e && (e.stack || e)) });
    show(`join failed: ${e && e.message}`);
    throw e;
  }
}

const CHAT_TOPIC = 'chat';

function waitFor(cond, ms) {
  return new Promise((resolve) => {
    const end = Date.now() + ms;
    const tick = () => (cond() || Date.now() > end ? resolve(cond()) : setTimeout(tick, 100));
    tick();
  });
}

// The camera: the first video input (Chromium's fake camera under its test flags).
async function startCamera(small) {
  const av = meetingSession.audioVideo;
  state.camera = { started: false, error: null };
  try {
    const cams = await av.listVideoInputDevices();
    if (!cams.length) throw new Error('no camera');
    if (small) av.chooseVideoInputQuality(320, 240, 15);
    await av.startVideoInput(cams[0].deviceId);
    av.startLocalVideoTile();
    const local = av.getLocalVideoTile();
    if (local) av.bindVideoElement(local.id(), tileElement('local', 'you', false));
    state.camera.started = true;
  } catch (e) {
    state.camera.error = String(e && e.message);
  }
}

async function stopCamera() {
  const av = meetingSession.audioVideo;
  av.stopLocalVideoTile();
  await av.stopVideoInput();
  if (state.camera) state.camera.started = false;
}

// A tile's <video> element, made on first use.
function tileElement(id, label, isContent) {
  const boxId = `tile-${id}`;
  let box = document.getElementById(boxId);
  if (!box) {
    box = document.createElement('figure');
    box.id = boxId;
    box.className = isContent ? 'tile content' : 'tile';
    const video = document.createElement('video');
    video.autoplay = true;
    video.muted = true;
    video.playsInline = true;
    const cap = document.createElement('figcaption');
    cap.textContent = isContent ? `${label} (shared content)` : label;
    box.append(video, cap);
    document.getElementById('tiles').append(box);
  }
  return box.querySelector('video');
}

// Counts the frames a remote tile shows, and when the first one came.
function watchFrames(rec, el) {
  if (el.dataset.watched) return;
  el.dataset.watched = '1';
  const onFrame = () => {
    if (rec.firstFrameAt === null && el.videoWidth > 0) rec.firstFrameAt = now();
    if (el.isConnected) el.requestVideoFrameCallback(onFrame);
  };
  el.requestVideoFrameCallback(onFrame);
}

// Each remote tile with the frames decoded for it so far (inbound-rtp `framesDecoded` of the
// track bound to the tile's <video>), by tileId.
async function tileFrames() {
  const decoded = new Map();
  const report = meetingSession ? await meetingSession.audioVideo.getRTCPeerConnectionStats().catch(() => null) : null;
  if (report) {
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && (s.kind === 'video' || s.mediaType === 'video') && s.trackIdentifier) {
        decoded.set(s.trackIdentifier, { framesDecoded: s.framesDecoded || 0, keyFramesDecoded: s.keyFramesDecoded || 0, packets: s.packetsReceived || 0, pli: s.pliCount || 0, nack: s.nackCount || 0 });
      }
    });
  }
  const out = {};
  for (const rec of Object.values(state.tiles)) {
    const el = document.querySelector(`#tile-${rec.tileId} video`);
    const track = el && el.srcObject && el.srcObject.getVideoTracks ? el.srcObject.getVideoTracks()[0] : null;
    const d = (track && decoded.get(track.id)) || {};
    out[rec.tileId] = {
      ...rec,
      frames: d.framesDecoded || 0,
      keyFrames: d.keyFramesDecoded || 0,
      packets: d.packets || 0,
      pli: d.pli || 0,
      nack: d.nack || 0,
      width: el ? el.videoWidth : 0,
      height: el ? el.videoHeight : 0,
      present: !!el,
    };
  }
  return out;
}

// Content share: a canvas animation (the harness) or a screen capture (the button).
let canvasTimer = null;
async function shareCanvas() {
  const canvas = document.createElement('canvas');
  canvas.width = 320;
  canvas.height = 180;
  const g = canvas.getContext('2d');
  let n = 0;
  canvasTimer = setInterval(() => {
    n += 1;
    g.fillStyle = `hsl(${(n * 7) % 360} 70% 50%)`;
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.fillStyle = '#fff';
    g.font = '28px sans-serif';
    g.fillText(`shared ${n}`, 20, 100);
  }, 66);
  const stream = canvas.captureStream(15);
  return startShare(() => meetingSession.audioVideo.startContentShare(stream));
}

async function shareScreen() {
  return startShare(() => meetingSession.audioVideo.startContentShareFromScreenCapture());
}

async function startShare(start) {
  state.content = { started: false, stopped: false, error: null };
  try {
    await start();
    state.content.started = true;
  } catch (e) {
    state.content.error = String(e && e.message);
  }
}

function stopShare() {
  meetingSession.audioVideo.stopContentShare();
  if (canvasTimer) clearInterval(canvasTimer);
  canvasTimer = null;
  if (state.content) state.content.stopped = true;
}

function sendChat(text, lifetimeMs = 0) {
  meetingSession.audioVideo.realtimeSendDataMessage(CHAT_TOPIC, text, lifetimeMs);
  state.sent.push({ t: now(), topic: CHAT_TOPIC, text });
  state.messages.push({ t: now(), topic: CHAT_TOPIC, text, senderAttendeeId: state.attendeeId, senderExternalUserId: 'you', self: true });
  renderChat();
}

function renderChat() {
  const el = document.getElementById('chat');
  if (!el) return;
  el.textContent = state.messages
    .slice(-50)
    .map((m) => `${m.self ? 'you' : m.senderExternalUserId || m.senderAttendeeId}${m.throttled ? ' (throttled)' : ''}: ${m.text}`)
    .join('\n');
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
  const video = params.get('video') !== '0';
  const small = params.get('small') === '1';
  const doJoin = () => {
    joinEl.disabled = true;
    join(meetingEl.value, attendeeEl.value, { logLevel, video, small }).catch(() => {});
  };
  joinEl.addEventListener('click', doJoin);
  leaveEl.addEventListener('click', () => leave());
  const shareEl = document.getElementById('share');
  shareEl.addEventListener('click', async () => {
    if (state.content && state.content.started && !state.content.stopped) {
      stopShare();
      shareEl.textContent = 'Share screen';
    } else {
      await shareScreen();
      if (state.content.started) shareEl.textContent = 'Stop sharing';
    }
  });
  const camEl = document.getElementById('camera');
  camEl.addEventListener('click', async () => {
    if (state.camera && state.camera.started) {
      await stopCamera();
      camEl.textContent = 'Camera on';
    } else {
      await startCamera(small);
      camEl.textContent = 'Camera off';
    }
  });
  const chatForm = document.getElementById('chat-form');
  chatForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const input = document.getElementById('chat-text');
    if (input.value && meetingSession) sendChat(input.value, 300_000);
    input.value = '';
  });
  if (params.get('autojoin') === '1' && meetingEl.value && attendeeEl.value) doJoin();
}

const api = {
  state,
  join,
  leave,
  audioStats,
  outboundAudioStats,
  tileFrames,
  startCamera,
  stopCamera,
  shareCanvas,
  stopShare,
  sendChat,
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
