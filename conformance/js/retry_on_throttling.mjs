// README example, checked in CI: test that an application retries
// CreateAttendee on throttling, with the AWS SDK for JavaScript v3. Needs a
// server started with --test-controls:
//   CONVENE_ENDPOINT=http://127.0.0.1:8080 node conformance/js/retry_on_throttling.mjs
import { randomUUID } from 'node:crypto';
import {
  ChimeSDKMeetingsClient,
  CreateAttendeeCommand,
  CreateMeetingCommand,
  DeleteMeetingCommand,
  ThrottlingException,
} from '@aws-sdk/client-chime-sdk-meetings';

const endpoint = process.env.CONVENE_ENDPOINT;
if (!endpoint) {
  console.error('set CONVENE_ENDPOINT');
  process.exit(2);
}
const faults = `${endpoint}/_convene/chaos/faults`;
const control = async (method, body) => {
  const r = await fetch(faults, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${faults}: ${r.status} ${await r.text()}`);
  return r.json();
};
const client = (maxAttempts) =>
  new ChimeSDKMeetingsClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts,
  });

try {
  const chime = client(3);
  const { Meeting } = await chime.send(new CreateMeetingCommand({
    ClientRequestToken: randomUUID(), MediaRegion: 'us-east-1', ExternalMeetingId: 'retry-demo',
  }));
  const rule = {
    service: 'chime-sdk-meetings',
    operation: 'CreateAttendee',
    count: 2,
    error: { statusCode: 429, code: 'ThrottlingException' },
  };

  // Two throttled attempts, then success: the SDK's retries did their job.
  await control('PATCH', [rule]);
  const { Attendee } = await chime.send(new CreateAttendeeCommand({
    MeetingId: Meeting.MeetingId, ExternalUserId: 'alice',
  }));
  if (Attendee.ExternalUserId !== 'alice') throw new Error('no attendee');
  const left = await control('GET');
  if (left.length !== 0) throw new Error(`rules left: ${JSON.stringify(left)}`);

  // Without retries: the modeled exception class.
  await control('PATCH', [rule]);
  try {
    await client(1).send(new CreateAttendeeCommand({ MeetingId: Meeting.MeetingId, ExternalUserId: 'bob' }));
    throw new Error('expected ThrottlingException');
  } catch (e) {
    if (!(e instanceof ThrottlingException)) throw e;
  }
  await control('DELETE', [rule]);
  await chime.send(new DeleteMeetingCommand({ MeetingId: Meeting.MeetingId }));
  console.log('js retry example: ok');
} catch (e) {
  console.error(`js retry example FAILED: ${e.stack ?? e}`);
  process.exit(1);
}
