// A meeting for people: creates a meeting and attendees on a running Convene, serves the test
// page, and prints one link per attendee. Open each link in its own browser tab (or on another
// computer) and press Join. Ctrl-C deletes the meeting, which ends every session.
//
// Usage (after `cd e2e && npm ci && npm run build`):
//   CONVENE_ENDPOINT=http://127.0.0.1:8080 node e2e/demo.mjs [--attendees 2] [--host 127.0.0.1] [--port 8090]
//
//   CONVENE_ENDPOINT   API base URL of the server (default http://127.0.0.1:8080)
//   key                CONVENE_ACCESS_KEY_ID / CONVENE_SECRET_ACCESS_KEY, or the AWS_ACCESS_KEY_ID /
//                      AWS_SECRET_ACCESS_KEY that `convene serve` printed (default AKIDEXAMPLE / secret)
//   --host, --port     where the page is served (default 127.0.0.1:8090). Browsers give the
//                      microphone only to https pages or to http://localhost / http://127.0.0.1.
//   --page-url         base URL people use to reach the page, if not http://<host>:<port>
//   --attendees N      how many links to print (default 2)
//   --keep             leave the meeting in place on Ctrl-C
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import { CreateAttendeeCommand, CreateMeetingCommand, DeleteMeetingCommand } from '@aws-sdk/client-chime-sdk-meetings';

import { bundleBuilt, makeClient, pageUrl, startStaticServer } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    attendees: { type: 'string', default: '2' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8090' },
    'page-url': { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log('CONVENE_ENDPOINT=http://127.0.0.1:8080 node e2e/demo.mjs [--attendees 2] [--host 127.0.0.1] [--port 8090] [--page-url URL] [--keep]');
  process.exit(0);
}
if (!bundleBuilt()) {
  console.error('page/bundle.js is missing: run `npm ci && npm run build` in e2e/ first');
  process.exit(2);
}
const endpoint = (process.env.CONVENE_ENDPOINT || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const region = process.env.CONVENE_REGION || 'us-east-1';
const client = makeClient(endpoint, region);
const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
const n = Math.max(1, Number(opt.attendees) || 2);

let meeting;
try {
  ({ Meeting: meeting } = await client.send(
    new CreateMeetingCommand({ ClientRequestToken: randomUUID(), MediaRegion: region, ExternalMeetingId: `demo-${Date.now()}` }),
  ));
} catch (e) {
  console.error(`CreateMeeting on ${endpoint} failed: ${e.name}: ${e.message}`);
  process.exit(1);
}
const attendees = [];
for (let i = 0; i < n; i++) {
  const user = names[i] || `user${i + 1}`;
  const { Attendee } = await client.send(new CreateAttendeeCommand({ MeetingId: meeting.MeetingId, ExternalUserId: user }));
  attendees.push(Attendee);
}

// Short links (/alice, /bob, ...) redirect to the page with the JSON in its query string.
const redirects = new Map();
const server = await startStaticServer({ host: opt.host, port: Number(opt.port), redirects });
const base = (opt['page-url'] || `http://${opt.host.includes(':') ? `[${opt.host}]` : opt.host}:${server.address().port}`).replace(/\/+$/, '');
for (const a of attendees) redirects.set(`/${encodeURIComponent(a.ExternalUserId)}`, pageUrl('', meeting, a));
console.log(`meeting ${meeting.MeetingId} (signaling ${meeting.MediaPlacement.SignalingUrl})`);
console.log('open each link in its own tab and press Join (use headphones: two tabs on one computer hear each other):\n');
for (const a of attendees) console.log(`  ${a.ExternalUserId.padEnd(6)} ${base}/${encodeURIComponent(a.ExternalUserId)}`);
console.log('');
console.log(opt.keep ? 'Ctrl-C stops serving the page.' : 'Ctrl-C deletes the meeting (ending every session) and stops.');

let stopping = false;
async function stop() {
  if (stopping) process.exit(1);
  stopping = true;
  if (!opt.keep) {
    try {
      await client.send(new DeleteMeetingCommand({ MeetingId: meeting.MeetingId }));
      console.log(`\nmeeting ${meeting.MeetingId} deleted`);
    } catch (e) {
      console.log(`\nDeleteMeeting failed: ${e.name}: ${e.message}`);
    }
  }
  server.closeAllConnections?.();
  server.close();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
