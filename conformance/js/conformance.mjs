// Conformance checks for Convene (Amazon Chime SDK Meetings emulator), driven by
// the official AWS SDK for JavaScript v3 (@aws-sdk/client-chime-sdk-meetings).
//
// Usage (from this folder, after `npm ci`):
//   CONVENE_ENDPOINT=http://127.0.0.1:18181 node conformance.mjs
//
// Environment:
//   CONVENE_ENDPOINT    base URL of a running server (required)
//   CONVENE_ACCOUNT_ID  account id expected in ARNs (default 123456789012)
//   CONVENE_VERBOSE=1   also print every passing check
//   CONVENE_ACCESS_KEY_ID / CONVENE_SECRET_ACCESS_KEY
//                       the key to sign with (default AKIDEXAMPLE / secret). The
//                       server verifies every signature (SigV4), so it must know
//                       this key: start it with the same two variables set
//
// Exercises all 16 operations, each with a success case (output checks plus
// $metadata) and at least one error case checked by its modeled exception class.
// Exit status: 0 if every check passed, 1 if any failed, 2 on a setup problem.
// The last line printed is always "js: N passed, M failed".

import { randomUUID } from 'node:crypto';
import {
  ChimeSDKMeetingsClient,
  ChimeSDKMeetingsServiceException,
  BadRequestException,
  LimitExceededException,
  NotFoundException,
  ResourceNotFoundException,
  TooManyTagsException,
  UnprocessableEntityException,
  BatchCreateAttendeeCommand,
  BatchUpdateAttendeeCapabilitiesExceptCommand,
  CreateAttendeeCommand,
  CreateMeetingCommand,
  CreateMeetingWithAttendeesCommand,
  DeleteAttendeeCommand,
  DeleteMeetingCommand,
  GetAttendeeCommand,
  GetMeetingCommand,
  ListAttendeesCommand,
  ListTagsForResourceCommand,
  StartMeetingTranscriptionCommand,
  StopMeetingTranscriptionCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAttendeeCapabilitiesCommand,
  paginateListAttendees,
} from '@aws-sdk/client-chime-sdk-meetings';

const ENDPOINT = (process.env.CONVENE_ENDPOINT || '').trim();
if (!ENDPOINT) {
  console.error('CONVENE_ENDPOINT is not set (e.g. http://127.0.0.1:18181)');
  process.exit(2);
}
const ACCOUNT = process.env.CONVENE_ACCOUNT_ID || '123456789012';
const REGION = 'us-east-1';
const VERBOSE = !['', '0', undefined].includes(process.env.CONVENE_VERBOSE);

const client = new ChimeSDKMeetingsClient({
  region: REGION,
  endpoint: ENDPOINT,
  credentials: {
    accessKeyId: process.env.CONVENE_ACCESS_KEY_ID || 'AKIDEXAMPLE',
    secretAccessKey: process.env.CONVENE_SECRET_ACCESS_KEY || 'secret',
  },
  maxAttempts: 1,
});

const GUID_RE = /^[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}$/;
const SEND_RECEIVE_ALL = { Audio: 'SendReceive', Video: 'SendReceive', Content: 'SendReceive' };

// ---------------------------------------------------------------- helpers

let passed = 0;
let failed = 0;
let section = '?';

function check(name, cond, detail) {
  if (cond) {
    passed += 1;
    if (VERBOSE) console.log(`  ok   [${section}] ${name}`);
  } else {
    failed += 1;
    let msg = `  FAIL [${section}] ${name}`;
    if (detail !== undefined) {
      msg += `\n         got: ${typeof detail === 'string' ? detail : safeJson(detail)}`;
    }
    console.log(msg);
  }
  return Boolean(cond);
}

function safeJson(v) {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

function uid(prefix) {
  return `${prefix}-${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

function meetingArn(meetingId) {
  return `arn:aws:chime:${REGION}:${ACCOUNT}:meeting/${meetingId}`;
}

function sameCaps(a, b) {
  return !!a && !!b && a.Audio === b.Audio && a.Video === b.Video && a.Content === b.Content;
}

function send(command) {
  return client.send(command);
}

/** Checks the $metadata of a successful response. */
function checkMeta(op, out, status) {
  const md = out && out.$metadata;
  check(`${op}: $metadata.httpStatusCode is ${status}`, md && md.httpStatusCode === status, md);
  check(
    `${op}: $metadata.requestId non-empty`,
    md && typeof md.requestId === 'string' && md.requestId.length > 0,
    md,
  );
}

/**
 * Runs fn, expecting it to reject with the modeled exception cls / name / HTTP status.
 * Returns the caught error (or undefined if the call unexpectedly succeeded).
 */
async function expectError(what, fn, cls, name, status) {
  let out;
  try {
    out = await fn();
  } catch (err) {
    const desc = `${err && err.name}: ${err && err.message} (status ${err && err.$metadata && err.$metadata.httpStatusCode})`;
    check(`${what}: rejects with instanceof ${name}`, err instanceof cls, desc);
    check(`${what}: instanceof ChimeSDKMeetingsServiceException`, err instanceof ChimeSDKMeetingsServiceException, desc);
    check(`${what}: err.name is ${name}`, err && err.name === name, desc);
    check(
      `${what}: err.$metadata.httpStatusCode is ${status}`,
      err && err.$metadata && err.$metadata.httpStatusCode === status,
      desc,
    );
    check(
      `${what}: err.$metadata.requestId non-empty`,
      err && err.$metadata && typeof err.$metadata.requestId === 'string' && err.$metadata.requestId.length > 0,
      err && err.$metadata,
    );
    check(`${what}: err.$fault is client`, err && err.$fault === 'client', err && err.$fault);
    check(
      `${what}: err.message non-empty`,
      err && typeof err.message === 'string' && err.message.length > 0 && err.message !== 'UnknownError',
      err && err.message,
    );
    return err;
  }
  check(`${what}: rejects with ${name}`, false, `call succeeded: ${safeJson(out)}`);
  return undefined;
}

/** Runs one section; an unexpected exception counts as one failure and the suite goes on. */
async function run(name, fn) {
  section = name;
  try {
    await fn();
  } catch (err) {
    check('section ran without an unexpected exception', false, `${err && err.name}: ${err && err.message}\n${err && err.stack}`);
  }
}

function checkMeeting(op, m, { externalMeetingId, mediaRegion = REGION, hostId } = {}) {
  if (!check(`${op}: Meeting present`, m && typeof m === 'object', m)) return;
  check(`${op}: MeetingId is a GUID`, GUID_RE.test(m.MeetingId || ''), m.MeetingId);
  check(`${op}: MeetingArn is ${meetingArn('<id>')}`, m.MeetingArn === meetingArn(m.MeetingId), m.MeetingArn);
  check(`${op}: MediaRegion echoed`, m.MediaRegion === mediaRegion, m.MediaRegion);
  if (externalMeetingId !== undefined) {
    check(`${op}: ExternalMeetingId echoed`, m.ExternalMeetingId === externalMeetingId, m.ExternalMeetingId);
  }
  if (hostId !== undefined) {
    check(`${op}: MeetingHostId echoed`, m.MeetingHostId === hostId, m.MeetingHostId);
  }
  const mp = m.MediaPlacement;
  if (check(`${op}: MediaPlacement present`, mp && typeof mp === 'object', mp)) {
    check(
      `${op}: MediaPlacement.SignalingUrl ends with /control/<MeetingId>`,
      typeof mp.SignalingUrl === 'string' && mp.SignalingUrl.endsWith(`/control/${m.MeetingId}`),
      mp.SignalingUrl,
    );
    check(`${op}: MediaPlacement.AudioHostUrl non-empty`, typeof mp.AudioHostUrl === 'string' && mp.AudioHostUrl.length > 0, mp.AudioHostUrl);
    check(
      `${op}: MediaPlacement.AudioFallbackUrl non-empty`,
      typeof mp.AudioFallbackUrl === 'string' && mp.AudioFallbackUrl.length > 0,
      mp.AudioFallbackUrl,
    );
    check(
      `${op}: MediaPlacement.TurnControlUrl non-empty`,
      typeof mp.TurnControlUrl === 'string' && mp.TurnControlUrl.length > 0,
      mp.TurnControlUrl,
    );
  }
}

function checkAttendee(op, a, { externalUserId, caps = SEND_RECEIVE_ALL } = {}) {
  if (!check(`${op}: Attendee present`, a && typeof a === 'object', a)) return;
  check(`${op}: AttendeeId is a GUID`, GUID_RE.test(a.AttendeeId || ''), a.AttendeeId);
  if (externalUserId !== undefined) {
    check(`${op}: ExternalUserId echoed`, a.ExternalUserId === externalUserId, a.ExternalUserId);
  }
  check(
    `${op}: JoinToken present (2..2048 chars)`,
    typeof a.JoinToken === 'string' && a.JoinToken.length >= 2 && a.JoinToken.length <= 2048,
    a.JoinToken,
  );
  check(`${op}: Capabilities ${safeJson(caps)}`, sameCaps(a.Capabilities, caps), a.Capabilities);
}

async function newMeeting(extra = {}) {
  const out = await send(
    new CreateMeetingCommand({
      ClientRequestToken: uid('tok'),
      MediaRegion: REGION,
      ExternalMeetingId: uid('mtg'),
      ...extra,
    }),
  );
  return out.Meeting;
}

async function newAttendee(meetingId, extra = {}) {
  const out = await send(new CreateAttendeeCommand({ MeetingId: meetingId, ExternalUserId: uid('user'), ...extra }));
  return out.Attendee;
}

const MALFORMED_ID = 'not-a-guid';
const unknownId = () => randomUUID();

// ---------------------------------------------------------------- sections

// One shared meeting for the attendee, transcription and tag sections.
let shared;

await run('CreateMeeting', async () => {
  const token = uid('tok');
  const ext = uid('mtg');
  const host = uid('host');
  const req = {
    ClientRequestToken: token,
    MediaRegion: REGION,
    ExternalMeetingId: ext,
    MeetingHostId: host,
    Tags: [{ Key: 'team', Value: 'blue' }],
  };
  const out = await send(new CreateMeetingCommand(req));
  checkMeta('CreateMeeting', out, 200);
  checkMeeting('CreateMeeting', out.Meeting, { externalMeetingId: ext, hostId: host });
  shared = out.Meeting;

  // Same ClientRequestToken: idempotent, returns the same meeting.
  const again = await send(new CreateMeetingCommand(req));
  checkMeta('CreateMeeting (replayed token)', again, 200);
  check(
    'CreateMeeting: same ClientRequestToken returns the same MeetingId',
    again.Meeting && again.Meeting.MeetingId === shared.MeetingId,
    again.Meeting && again.Meeting.MeetingId,
  );
  // A different token creates a different meeting.
  const other = await newMeeting();
  check('CreateMeeting: a new ClientRequestToken yields a new MeetingId', other && other.MeetingId !== shared.MeetingId, other);

  // MeetingFeatures are echoed.
  const feat = await send(
    new CreateMeetingCommand({
      ClientRequestToken: uid('tok'),
      MediaRegion: REGION,
      ExternalMeetingId: uid('mtg'),
      MeetingFeatures: { Audio: { EchoReduction: 'AVAILABLE' }, Attendee: { MaxCount: 7 } },
    }),
  );
  const mf = feat.Meeting && feat.Meeting.MeetingFeatures;
  check('CreateMeeting: MeetingFeatures.Attendee.MaxCount echoed', mf && mf.Attendee && mf.Attendee.MaxCount === 7, mf);
  check('CreateMeeting: MeetingFeatures.Audio.EchoReduction echoed', mf && mf.Audio && mf.Audio.EchoReduction === 'AVAILABLE', mf);

  // Error: required ExternalMeetingId missing (JS v3 does not validate client-side).
  await expectError(
    'CreateMeeting without ExternalMeetingId',
    () => send(new CreateMeetingCommand({ ClientRequestToken: uid('tok'), MediaRegion: REGION })),
    BadRequestException,
    'BadRequestException',
    400,
  );
  // Error: MeetingFeatures.Attendee.MaxCount out of range 1..250.
  await expectError(
    'CreateMeeting with Attendee.MaxCount 0',
    () =>
      send(
        new CreateMeetingCommand({
          ClientRequestToken: uid('tok'),
          MediaRegion: REGION,
          ExternalMeetingId: uid('mtg'),
          MeetingFeatures: { Attendee: { MaxCount: 0 } },
        }),
      ),
    BadRequestException,
    'BadRequestException',
    400,
  );
});

await run('CreateMeetingWithAttendees', async () => {
  const token = uid('tok');
  const ext = uid('mtg');
  const u1 = uid('user');
  const u2 = uid('user');
  const req = {
    ClientRequestToken: token,
    MediaRegion: REGION,
    ExternalMeetingId: ext,
    Attendees: [
      { ExternalUserId: u1 },
      { ExternalUserId: u2, Capabilities: { Audio: 'Send', Video: 'Receive', Content: 'None' } },
    ],
  };
  const out = await send(new CreateMeetingWithAttendeesCommand(req));
  checkMeta('CreateMeetingWithAttendees', out, 200);
  checkMeeting('CreateMeetingWithAttendees', out.Meeting, { externalMeetingId: ext });
  const atts = out.Attendees || [];
  check('CreateMeetingWithAttendees: two Attendees returned', atts.length === 2, atts);
  const a1 = atts.find((a) => a.ExternalUserId === u1);
  const a2 = atts.find((a) => a.ExternalUserId === u2);
  checkAttendee('CreateMeetingWithAttendees[0]', a1, { externalUserId: u1 });
  checkAttendee('CreateMeetingWithAttendees[1]', a2, {
    externalUserId: u2,
    caps: { Audio: 'Send', Video: 'Receive', Content: 'None' },
  });
  check('CreateMeetingWithAttendees: Errors empty or absent', !out.Errors || out.Errors.length === 0, out.Errors);

  // Attendees are really in the meeting.
  if (out.Meeting && a1) {
    const got = await send(new GetAttendeeCommand({ MeetingId: out.Meeting.MeetingId, AttendeeId: a1.AttendeeId }));
    check('CreateMeetingWithAttendees: attendee visible via GetAttendee', got.Attendee && got.Attendee.AttendeeId === a1.AttendeeId, got.Attendee);
  }
  // Idempotent token.
  const again = await send(new CreateMeetingWithAttendeesCommand(req));
  check(
    'CreateMeetingWithAttendees: same ClientRequestToken returns the same MeetingId',
    again.Meeting && out.Meeting && again.Meeting.MeetingId === out.Meeting.MeetingId,
    again.Meeting && again.Meeting.MeetingId,
  );

  // Error: Attendees list empty (min 1).
  await expectError(
    'CreateMeetingWithAttendees with empty Attendees',
    () =>
      send(
        new CreateMeetingWithAttendeesCommand({
          ClientRequestToken: uid('tok'),
          MediaRegion: REGION,
          ExternalMeetingId: uid('mtg'),
          Attendees: [],
        }),
      ),
    BadRequestException,
    'BadRequestException',
    400,
  );
  // Error: more than 20 attendees.
  await expectError(
    'CreateMeetingWithAttendees with 21 Attendees',
    () =>
      send(
        new CreateMeetingWithAttendeesCommand({
          ClientRequestToken: uid('tok'),
          MediaRegion: REGION,
          ExternalMeetingId: uid('mtg'),
          Attendees: Array.from({ length: 21 }, () => ({ ExternalUserId: uid('user') })),
        }),
      ),
    BadRequestException,
    'BadRequestException',
    400,
  );
});

await run('GetMeeting', async () => {
  const out = await send(new GetMeetingCommand({ MeetingId: shared.MeetingId }));
  checkMeta('GetMeeting', out, 200);
  checkMeeting('GetMeeting', out.Meeting, { externalMeetingId: shared.ExternalMeetingId, hostId: shared.MeetingHostId });
  check('GetMeeting: same MeetingId', out.Meeting && out.Meeting.MeetingId === shared.MeetingId, out.Meeting);
  check(
    'GetMeeting: same MediaPlacement as CreateMeeting',
    out.Meeting && safeJson(out.Meeting.MediaPlacement) === safeJson(shared.MediaPlacement),
    out.Meeting && out.Meeting.MediaPlacement,
  );

  await expectError(
    'GetMeeting with malformed MeetingId',
    () => send(new GetMeetingCommand({ MeetingId: MALFORMED_ID })),
    BadRequestException,
    'BadRequestException',
    400,
  );
  await expectError(
    'GetMeeting with unknown MeetingId',
    () => send(new GetMeetingCommand({ MeetingId: unknownId() })),
    NotFoundException,
    'NotFoundException',
    404,
  );
});

await run('DeleteMeeting', async () => {
  const m = await newMeeting({ Tags: [{ Key: 'doomed', Value: 'yes' }] });
  const a = await newAttendee(m.MeetingId);
  const out = await send(new DeleteMeetingCommand({ MeetingId: m.MeetingId }));
  checkMeta('DeleteMeeting', out, 204);

  await expectError(
    'GetMeeting after DeleteMeeting',
    () => send(new GetMeetingCommand({ MeetingId: m.MeetingId })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  await expectError(
    'GetAttendee after DeleteMeeting',
    () => send(new GetAttendeeCommand({ MeetingId: m.MeetingId, AttendeeId: a.AttendeeId })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  await expectError(
    'CreateAttendee after DeleteMeeting',
    () => send(new CreateAttendeeCommand({ MeetingId: m.MeetingId, ExternalUserId: uid('user') })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  await expectError(
    'DeleteMeeting twice',
    () => send(new DeleteMeetingCommand({ MeetingId: m.MeetingId })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  await expectError(
    'DeleteMeeting with unknown MeetingId',
    () => send(new DeleteMeetingCommand({ MeetingId: unknownId() })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  await expectError(
    'DeleteMeeting with malformed MeetingId',
    () => send(new DeleteMeetingCommand({ MeetingId: MALFORMED_ID })),
    BadRequestException,
    'BadRequestException',
    400,
  );
});

await run('CreateAttendee', async () => {
  const ext = uid('user');
  const out = await send(new CreateAttendeeCommand({ MeetingId: shared.MeetingId, ExternalUserId: ext }));
  checkMeta('CreateAttendee', out, 200);
  checkAttendee('CreateAttendee', out.Attendee, { externalUserId: ext });

  // Same ExternalUserId in the same meeting: idempotent.
  const again = await send(new CreateAttendeeCommand({ MeetingId: shared.MeetingId, ExternalUserId: ext }));
  checkMeta('CreateAttendee (same ExternalUserId)', again, 200);
  check(
    'CreateAttendee: same ExternalUserId returns the same AttendeeId',
    again.Attendee && out.Attendee && again.Attendee.AttendeeId === out.Attendee.AttendeeId,
    again.Attendee,
  );
  check(
    'CreateAttendee: same ExternalUserId returns the same JoinToken',
    again.Attendee && out.Attendee && again.Attendee.JoinToken === out.Attendee.JoinToken,
    again.Attendee,
  );
  // Different ExternalUserId: different attendee and token.
  const other = await newAttendee(shared.MeetingId);
  check(
    'CreateAttendee: another ExternalUserId gets another AttendeeId and JoinToken',
    other && out.Attendee && other.AttendeeId !== out.Attendee.AttendeeId && other.JoinToken !== out.Attendee.JoinToken,
    other,
  );
  // Explicit capabilities are stored.
  const caps = { Audio: 'Receive', Video: 'SendReceive', Content: 'Receive' };
  const withCaps = await send(
    new CreateAttendeeCommand({ MeetingId: shared.MeetingId, ExternalUserId: uid('user'), Capabilities: caps }),
  );
  checkAttendee('CreateAttendee (explicit Capabilities)', withCaps.Attendee, { caps });

  // Errors.
  const limited = await newMeeting({ MeetingFeatures: { Attendee: { MaxCount: 1 } } });
  await newAttendee(limited.MeetingId);
  await expectError(
    'CreateAttendee beyond MeetingFeatures.Attendee.MaxCount=1',
    () => send(new CreateAttendeeCommand({ MeetingId: limited.MeetingId, ExternalUserId: uid('user') })),
    LimitExceededException,
    'LimitExceededException',
    400,
  );
  await expectError(
    'CreateAttendee in unknown meeting',
    () => send(new CreateAttendeeCommand({ MeetingId: unknownId(), ExternalUserId: uid('user') })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  await expectError(
    'CreateAttendee with malformed MeetingId',
    () => send(new CreateAttendeeCommand({ MeetingId: MALFORMED_ID, ExternalUserId: uid('user') })),
    BadRequestException,
    'BadRequestException',
    400,
  );
  await expectError(
    'CreateAttendee with Content SendReceive and Video None',
    () =>
      send(
        new CreateAttendeeCommand({
          MeetingId: shared.MeetingId,
          ExternalUserId: uid('user'),
          Capabilities: { Audio: 'SendReceive', Video: 'None', Content: 'SendReceive' },
        }),
      ),
    BadRequestException,
    'BadRequestException',
    400,
  );
});

await run('BatchCreateAttendee', async () => {
  const m = await newMeeting();
  const ids = [uid('user'), uid('user'), uid('user')];
  const out = await send(
    new BatchCreateAttendeeCommand({
      MeetingId: m.MeetingId,
      Attendees: [
        { ExternalUserId: ids[0] },
        { ExternalUserId: ids[1] },
        { ExternalUserId: ids[2], Capabilities: { Audio: 'SendReceive', Video: 'None', Content: 'None' } },
      ],
    }),
  );
  checkMeta('BatchCreateAttendee', out, 200);
  const atts = out.Attendees || [];
  check('BatchCreateAttendee: three Attendees returned', atts.length === 3, atts);
  check('BatchCreateAttendee: Errors empty or absent', !out.Errors || out.Errors.length === 0, out.Errors);
  ids.forEach((ext, i) => {
    const a = atts.find((x) => x.ExternalUserId === ext);
    checkAttendee(`BatchCreateAttendee[${i}]`, a, {
      externalUserId: ext,
      caps: i === 2 ? { Audio: 'SendReceive', Video: 'None', Content: 'None' } : SEND_RECEIVE_ALL,
    });
  });
  check(
    'BatchCreateAttendee: AttendeeIds are distinct',
    new Set(atts.map((a) => a.AttendeeId)).size === atts.length,
    atts.map((a) => a.AttendeeId),
  );
  const listed = await send(new ListAttendeesCommand({ MeetingId: m.MeetingId }));
  check('BatchCreateAttendee: ListAttendees shows the 3 attendees', (listed.Attendees || []).length === 3, listed.Attendees);

  await expectError(
    'BatchCreateAttendee in unknown meeting',
    () => send(new BatchCreateAttendeeCommand({ MeetingId: unknownId(), Attendees: [{ ExternalUserId: uid('user') }] })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  await expectError(
    'BatchCreateAttendee with malformed MeetingId',
    () => send(new BatchCreateAttendeeCommand({ MeetingId: MALFORMED_ID, Attendees: [{ ExternalUserId: uid('user') }] })),
    BadRequestException,
    'BadRequestException',
    400,
  );
  await expectError(
    'BatchCreateAttendee with empty Attendees',
    () => send(new BatchCreateAttendeeCommand({ MeetingId: m.MeetingId, Attendees: [] })),
    BadRequestException,
    'BadRequestException',
    400,
  );
});

await run('GetAttendee', async () => {
  const ext = uid('user');
  const created = await newAttendee(shared.MeetingId, { ExternalUserId: ext });
  const out = await send(new GetAttendeeCommand({ MeetingId: shared.MeetingId, AttendeeId: created.AttendeeId }));
  checkMeta('GetAttendee', out, 200);
  checkAttendee('GetAttendee', out.Attendee, { externalUserId: ext });
  check(
    'GetAttendee: same AttendeeId and JoinToken as CreateAttendee',
    out.Attendee && out.Attendee.AttendeeId === created.AttendeeId && out.Attendee.JoinToken === created.JoinToken,
    out.Attendee,
  );

  await expectError(
    'GetAttendee with unknown AttendeeId',
    () => send(new GetAttendeeCommand({ MeetingId: shared.MeetingId, AttendeeId: unknownId() })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  await expectError(
    'GetAttendee with malformed AttendeeId',
    () => send(new GetAttendeeCommand({ MeetingId: shared.MeetingId, AttendeeId: MALFORMED_ID })),
    BadRequestException,
    'BadRequestException',
    400,
  );
  await expectError(
    'GetAttendee in unknown meeting',
    () => send(new GetAttendeeCommand({ MeetingId: unknownId(), AttendeeId: created.AttendeeId })),
    NotFoundException,
    'NotFoundException',
    404,
  );
});

await run('ListAttendees', async () => {
  const m = await newMeeting();
  const created = [];
  for (let i = 0; i < 5; i += 1) created.push(await newAttendee(m.MeetingId));
  const wantIds = new Set(created.map((a) => a.AttendeeId));

  const all = await send(new ListAttendeesCommand({ MeetingId: m.MeetingId }));
  checkMeta('ListAttendees', all, 200);
  const allIds = (all.Attendees || []).map((a) => a.AttendeeId);
  check(
    'ListAttendees: lists exactly the 5 attendees',
    allIds.length === 5 && allIds.every((id) => wantIds.has(id)),
    allIds,
  );
  check('ListAttendees: no NextToken when everything fits', !all.NextToken, all.NextToken);
  const one = (all.Attendees || [])[0];
  if (one) checkAttendee('ListAttendees[0]', one, {});

  // Manual paging with MaxResults 2.
  const p1 = await send(new ListAttendeesCommand({ MeetingId: m.MeetingId, MaxResults: 2 }));
  check('ListAttendees MaxResults=2: two attendees', (p1.Attendees || []).length === 2, p1.Attendees);
  check('ListAttendees MaxResults=2: NextToken present', typeof p1.NextToken === 'string' && p1.NextToken.length > 0, p1.NextToken);
  if (p1.NextToken) {
    const p2 = await send(new ListAttendeesCommand({ MeetingId: m.MeetingId, MaxResults: 2, NextToken: p1.NextToken }));
    checkMeta('ListAttendees (page 2)', p2, 200);
    const overlap = (p2.Attendees || []).filter((a) => (p1.Attendees || []).some((b) => b.AttendeeId === a.AttendeeId));
    check('ListAttendees page 2: two new attendees', (p2.Attendees || []).length === 2 && overlap.length === 0, p2.Attendees);
  }

  // paginateListAttendees with pageSize 2.
  const pages = [];
  for await (const page of paginateListAttendees({ client, pageSize: 2 }, { MeetingId: m.MeetingId })) {
    pages.push(page);
    if (pages.length > 10) break;
  }
  const sizes = pages.map((p) => (p.Attendees || []).length);
  check('paginateListAttendees(pageSize 2): 3 pages of sizes 2,2,1', safeJson(sizes) === '[2,2,1]', sizes);
  const pagedIds = pages.flatMap((p) => (p.Attendees || []).map((a) => a.AttendeeId));
  check(
    'paginateListAttendees: every attendee exactly once',
    pagedIds.length === 5 && new Set(pagedIds).size === 5 && pagedIds.every((id) => wantIds.has(id)),
    pagedIds,
  );
  check('paginateListAttendees: last page has no NextToken', pages.length > 0 && !pages[pages.length - 1].NextToken, pages.map((p) => p.NextToken));
  check(
    'paginateListAttendees: each page has $metadata status 200',
    pages.every((p) => p.$metadata && p.$metadata.httpStatusCode === 200),
    pages.map((p) => p.$metadata),
  );

  await expectError(
    'ListAttendees in unknown meeting',
    () => send(new ListAttendeesCommand({ MeetingId: unknownId() })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  await expectError(
    'ListAttendees with malformed MeetingId',
    () => send(new ListAttendeesCommand({ MeetingId: MALFORMED_ID })),
    BadRequestException,
    'BadRequestException',
    400,
  );
  await expectError(
    'ListAttendees with MaxResults 101',
    () => send(new ListAttendeesCommand({ MeetingId: m.MeetingId, MaxResults: 101 })),
    BadRequestException,
    'BadRequestException',
    400,
  );
});

await run('DeleteAttendee', async () => {
  const m = await newMeeting();
  const a = await newAttendee(m.MeetingId);
  const keep = await newAttendee(m.MeetingId);
  const out = await send(new DeleteAttendeeCommand({ MeetingId: m.MeetingId, AttendeeId: a.AttendeeId }));
  checkMeta('DeleteAttendee', out, 204);

  await expectError(
    'GetAttendee after DeleteAttendee',
    () => send(new GetAttendeeCommand({ MeetingId: m.MeetingId, AttendeeId: a.AttendeeId })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  const listed = await send(new ListAttendeesCommand({ MeetingId: m.MeetingId }));
  const ids = (listed.Attendees || []).map((x) => x.AttendeeId);
  check('DeleteAttendee: ListAttendees shows only the remaining attendee', ids.length === 1 && ids[0] === keep.AttendeeId, ids);

  await expectError(
    'DeleteAttendee twice',
    () => send(new DeleteAttendeeCommand({ MeetingId: m.MeetingId, AttendeeId: a.AttendeeId })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  await expectError(
    'DeleteAttendee with malformed AttendeeId',
    () => send(new DeleteAttendeeCommand({ MeetingId: m.MeetingId, AttendeeId: MALFORMED_ID })),
    BadRequestException,
    'BadRequestException',
    400,
  );
  await expectError(
    'DeleteAttendee in unknown meeting',
    () => send(new DeleteAttendeeCommand({ MeetingId: unknownId(), AttendeeId: keep.AttendeeId })),
    NotFoundException,
    'NotFoundException',
    404,
  );
});

await run('UpdateAttendeeCapabilities', async () => {
  const a = await newAttendee(shared.MeetingId);
  const caps = { Audio: 'Receive', Video: 'Receive', Content: 'None' };
  const out = await send(
    new UpdateAttendeeCapabilitiesCommand({ MeetingId: shared.MeetingId, AttendeeId: a.AttendeeId, Capabilities: caps }),
  );
  checkMeta('UpdateAttendeeCapabilities', out, 200);
  checkAttendee('UpdateAttendeeCapabilities', out.Attendee, { externalUserId: a.ExternalUserId, caps });
  check(
    'UpdateAttendeeCapabilities: same AttendeeId',
    out.Attendee && out.Attendee.AttendeeId === a.AttendeeId,
    out.Attendee,
  );
  const got = await send(new GetAttendeeCommand({ MeetingId: shared.MeetingId, AttendeeId: a.AttendeeId }));
  check('UpdateAttendeeCapabilities: GetAttendee shows new Capabilities', sameCaps(got.Attendee && got.Attendee.Capabilities, caps), got.Attendee);

  await expectError(
    'UpdateAttendeeCapabilities with Content SendReceive and Video None',
    () =>
      send(
        new UpdateAttendeeCapabilitiesCommand({
          MeetingId: shared.MeetingId,
          AttendeeId: a.AttendeeId,
          Capabilities: { Audio: 'SendReceive', Video: 'None', Content: 'SendReceive' },
        }),
      ),
    BadRequestException,
    'BadRequestException',
    400,
  );
  const after = await send(new GetAttendeeCommand({ MeetingId: shared.MeetingId, AttendeeId: a.AttendeeId }));
  check('UpdateAttendeeCapabilities: rejected update left Capabilities unchanged', sameCaps(after.Attendee && after.Attendee.Capabilities, caps), after.Attendee);
  await expectError(
    'UpdateAttendeeCapabilities for unknown attendee',
    () =>
      send(
        new UpdateAttendeeCapabilitiesCommand({
          MeetingId: shared.MeetingId,
          AttendeeId: unknownId(),
          Capabilities: SEND_RECEIVE_ALL,
        }),
      ),
    NotFoundException,
    'NotFoundException',
    404,
  );
});

await run('BatchUpdateAttendeeCapabilitiesExcept', async () => {
  const m = await newMeeting();
  const atts = [];
  for (let i = 0; i < 3; i += 1) atts.push(await newAttendee(m.MeetingId));
  const caps = { Audio: 'Send', Video: 'None', Content: 'None' };
  const out = await send(
    new BatchUpdateAttendeeCapabilitiesExceptCommand({
      MeetingId: m.MeetingId,
      ExcludedAttendeeIds: [{ AttendeeId: atts[0].AttendeeId }],
      Capabilities: caps,
    }),
  );
  checkMeta('BatchUpdateAttendeeCapabilitiesExcept', out, 200);
  for (let i = 0; i < 3; i += 1) {
    const got = await send(new GetAttendeeCommand({ MeetingId: m.MeetingId, AttendeeId: atts[i].AttendeeId }));
    const want = i === 0 ? SEND_RECEIVE_ALL : caps;
    check(
      `BatchUpdateAttendeeCapabilitiesExcept: attendee ${i} ${i === 0 ? 'excluded, unchanged' : 'updated'}`,
      sameCaps(got.Attendee && got.Attendee.Capabilities, want),
      got.Attendee && got.Attendee.Capabilities,
    );
  }

  await expectError(
    "BatchUpdateAttendeeCapabilitiesExcept with ExcludedAttendeeIds [{AttendeeId:'bad'}]",
    () =>
      send(
        new BatchUpdateAttendeeCapabilitiesExceptCommand({
          MeetingId: m.MeetingId,
          ExcludedAttendeeIds: [{ AttendeeId: 'bad' }],
          Capabilities: SEND_RECEIVE_ALL,
        }),
      ),
    BadRequestException,
    'BadRequestException',
    400,
  );
  await expectError(
    'BatchUpdateAttendeeCapabilitiesExcept in unknown meeting',
    () =>
      send(
        new BatchUpdateAttendeeCapabilitiesExceptCommand({
          MeetingId: unknownId(),
          ExcludedAttendeeIds: [{ AttendeeId: atts[0].AttendeeId }],
          Capabilities: SEND_RECEIVE_ALL,
        }),
      ),
    NotFoundException,
    'NotFoundException',
    404,
  );
  await expectError(
    'BatchUpdateAttendeeCapabilitiesExcept with Content SendReceive and Video None',
    () =>
      send(
        new BatchUpdateAttendeeCapabilitiesExceptCommand({
          MeetingId: m.MeetingId,
          ExcludedAttendeeIds: [{ AttendeeId: atts[0].AttendeeId }],
          Capabilities: { Audio: 'SendReceive', Video: 'None', Content: 'SendReceive' },
        }),
      ),
    BadRequestException,
    'BadRequestException',
    400,
  );
});

await run('StartMeetingTranscription', async () => {
  const m = await newMeeting();
  const out = await send(
    new StartMeetingTranscriptionCommand({
      MeetingId: m.MeetingId,
      TranscriptionConfiguration: { EngineTranscribeSettings: { LanguageCode: 'en-US', Region: 'auto' } },
    }),
  );
  checkMeta('StartMeetingTranscription', out, 200);
  // A second start updates the configuration; it is not an error.
  const again = await send(
    new StartMeetingTranscriptionCommand({
      MeetingId: m.MeetingId,
      TranscriptionConfiguration: {
        EngineTranscribeMedicalSettings: { LanguageCode: 'en-US', Specialty: 'PRIMARYCARE', Type: 'CONVERSATION' },
      },
    }),
  );
  checkMeta('StartMeetingTranscription (second call updates)', again, 200);

  await expectError(
    'StartMeetingTranscription with both engine settings',
    () =>
      send(
        new StartMeetingTranscriptionCommand({
          MeetingId: m.MeetingId,
          TranscriptionConfiguration: {
            EngineTranscribeSettings: { LanguageCode: 'en-US' },
            EngineTranscribeMedicalSettings: { LanguageCode: 'en-US', Specialty: 'PRIMARYCARE', Type: 'CONVERSATION' },
          },
        }),
      ),
    BadRequestException,
    'BadRequestException',
    400,
  );
  await expectError(
    'StartMeetingTranscription in unknown meeting',
    () =>
      send(
        new StartMeetingTranscriptionCommand({
          MeetingId: unknownId(),
          TranscriptionConfiguration: { EngineTranscribeSettings: { LanguageCode: 'en-US' } },
        }),
      ),
    NotFoundException,
    'NotFoundException',
    404,
  );
  // Leave the meeting with a transcription running for the Stop section.
  globalThis.transcribingMeeting = m;
});

await run('StopMeetingTranscription', async () => {
  const m = globalThis.transcribingMeeting || (await newMeeting());
  if (!globalThis.transcribingMeeting) {
    await send(
      new StartMeetingTranscriptionCommand({
        MeetingId: m.MeetingId,
        TranscriptionConfiguration: { EngineTranscribeSettings: { LanguageCode: 'en-US' } },
      }),
    );
  }
  const out = await send(new StopMeetingTranscriptionCommand({ MeetingId: m.MeetingId }));
  checkMeta('StopMeetingTranscription', out, 200);

  await expectError(
    'StopMeetingTranscription when none is running',
    () => send(new StopMeetingTranscriptionCommand({ MeetingId: m.MeetingId })),
    UnprocessableEntityException,
    'UnprocessableEntityException',
    422,
  );
  const fresh = await newMeeting();
  await expectError(
    'StopMeetingTranscription on a meeting that never started one',
    () => send(new StopMeetingTranscriptionCommand({ MeetingId: fresh.MeetingId })),
    UnprocessableEntityException,
    'UnprocessableEntityException',
    422,
  );
  await expectError(
    'StopMeetingTranscription in unknown meeting',
    () => send(new StopMeetingTranscriptionCommand({ MeetingId: unknownId() })),
    NotFoundException,
    'NotFoundException',
    404,
  );
  // Start works again after a stop.
  const restart = await send(
    new StartMeetingTranscriptionCommand({
      MeetingId: m.MeetingId,
      TranscriptionConfiguration: { EngineTranscribeSettings: { LanguageCode: 'en-GB' } },
    }),
  );
  checkMeta('StartMeetingTranscription after stop', restart, 200);
});

function tagMap(tags) {
  const o = {};
  for (const t of tags || []) o[t.Key] = t.Value;
  return o;
}

async function expectTagsNotFound(what, fn, arn) {
  const err = await expectError(what, fn, ResourceNotFoundException, 'ResourceNotFoundException', 404);
  if (err) check(`${what}: err.ResourceName is the ARN`, err.ResourceName === arn, err.ResourceName);
}

await run('ListTagsForResource', async () => {
  const arn = shared.MeetingArn;
  const out = await send(new ListTagsForResourceCommand({ ResourceARN: arn }));
  checkMeta('ListTagsForResource', out, 200);
  check(
    'ListTagsForResource: returns the Tags given at CreateMeeting',
    safeJson(tagMap(out.Tags)) === safeJson({ team: 'blue' }),
    out.Tags,
  );
  // A meeting created without tags lists an empty Tags array.
  const bare = await newMeeting();
  const none = await send(new ListTagsForResourceCommand({ ResourceARN: bare.MeetingArn }));
  check('ListTagsForResource: untagged meeting gives an empty list', Array.isArray(none.Tags) && none.Tags.length === 0, none.Tags);

  const unknownArn = meetingArn(unknownId());
  await expectTagsNotFound(
    'ListTagsForResource on unknown meeting ARN',
    () => send(new ListTagsForResourceCommand({ ResourceARN: unknownArn })),
    unknownArn,
  );
  await expectError(
    'ListTagsForResource with malformed ARN',
    () => send(new ListTagsForResourceCommand({ ResourceARN: 'not-an-arn' })),
    BadRequestException,
    'BadRequestException',
    400,
  );
});

await run('TagResource', async () => {
  const m = await newMeeting({ Tags: [{ Key: 'team', Value: 'blue' }] });
  const arn = m.MeetingArn;
  const out = await send(
    new TagResourceCommand({
      ResourceARN: arn,
      Tags: [
        { Key: 'env', Value: 'test' },
        { Key: 'team', Value: 'red' },
        { Key: 'empty', Value: '' },
      ],
    }),
  );
  checkMeta('TagResource', out, 204);
  const listed = await send(new ListTagsForResourceCommand({ ResourceARN: arn }));
  const got = tagMap(listed.Tags);
  check(
    'TagResource: ListTagsForResource returns what TagResource set (existing key overwritten)',
    Object.keys(got).length === 3 && got.env === 'test' && got.team === 'red' && got.empty === '',
    listed.Tags,
  );

  const unknownArn = meetingArn(unknownId());
  await expectTagsNotFound(
    'TagResource on unknown meeting ARN',
    () => send(new TagResourceCommand({ ResourceARN: unknownArn, Tags: [{ Key: 'k', Value: 'v' }] })),
    unknownArn,
  );
  // 3 existing + 48 new = 51 > 50.
  const many = Array.from({ length: 48 }, (_, i) => ({ Key: `k${i}`, Value: `v${i}` }));
  const tooMany = await expectError(
    'TagResource leaving more than 50 tags',
    () => send(new TagResourceCommand({ ResourceARN: arn, Tags: many })),
    TooManyTagsException,
    'TooManyTagsException',
    400,
  );
  if (tooMany && tooMany.ResourceName !== undefined) {
    check('TagResource TooManyTags: ResourceName is the ARN', tooMany.ResourceName === arn, tooMany.ResourceName);
  }
  const after = await send(new ListTagsForResourceCommand({ ResourceARN: arn }));
  check('TagResource: rejected TooManyTags call changed nothing', (after.Tags || []).length === 3, after.Tags);
  // Exactly 50 is fine.
  const fill = await send(new TagResourceCommand({ ResourceARN: arn, Tags: many.slice(0, 47) }));
  checkMeta('TagResource (up to exactly 50 tags)', fill, 204);
  const full = await send(new ListTagsForResourceCommand({ ResourceARN: arn }));
  check('TagResource: 50 tags listed', (full.Tags || []).length === 50, (full.Tags || []).length);

  await expectError(
    'TagResource with malformed ARN',
    () => send(new TagResourceCommand({ ResourceARN: 'not-an-arn', Tags: [{ Key: 'k', Value: 'v' }] })),
    BadRequestException,
    'BadRequestException',
    400,
  );
});

await run('UntagResource', async () => {
  const m = await newMeeting({
    Tags: [
      { Key: 'a', Value: '1' },
      { Key: 'b', Value: '2' },
      { Key: 'c', Value: '3' },
    ],
  });
  const arn = m.MeetingArn;
  const out = await send(new UntagResourceCommand({ ResourceARN: arn, TagKeys: ['a', 'c'] }));
  checkMeta('UntagResource', out, 204);
  const listed = await send(new ListTagsForResourceCommand({ ResourceARN: arn }));
  check('UntagResource: only tag b is left', safeJson(tagMap(listed.Tags)) === safeJson({ b: '2' }), listed.Tags);

  const absent = await send(new UntagResourceCommand({ ResourceARN: arn, TagKeys: ['a', 'never-set'] }));
  checkMeta('UntagResource of absent keys', absent, 204);
  const still = await send(new ListTagsForResourceCommand({ ResourceARN: arn }));
  check('UntagResource of absent keys: tags unchanged', safeJson(tagMap(still.Tags)) === safeJson({ b: '2' }), still.Tags);

  const unknownArn = meetingArn(unknownId());
  await expectTagsNotFound(
    'UntagResource on unknown meeting ARN',
    () => send(new UntagResourceCommand({ ResourceARN: unknownArn, TagKeys: ['a'] })),
    unknownArn,
  );
  await expectError(
    'UntagResource with malformed ARN',
    () => send(new UntagResourceCommand({ ResourceARN: 'not-an-arn', TagKeys: ['a'] })),
    BadRequestException,
    'BadRequestException',
    400,
  );
  // Tags go away with the meeting.
  await send(new DeleteMeetingCommand({ MeetingId: m.MeetingId }));
  await expectTagsNotFound(
    'ListTagsForResource after DeleteMeeting',
    () => send(new ListTagsForResourceCommand({ ResourceARN: arn })),
    arn,
  );
});

// ---------------------------------------------------------------- summary

client.destroy();
console.log(`js: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
