// End-to-end test of the web console (/console) in headless Chromium.
//
// A person signs in with the account's key, watches a meeting that boto3 creates appear
// (without reloading), opens it, changes an attendee's capabilities, removes another attendee
// and ends the meeting; after each action, boto3 must see what the page shows, and the live
// event stream (the event log API's server-sent events) shows each event. A second key of
// another account must not see the meeting. A screenshot is left in artifacts/console.png.
//
// Usage (from the repository root, after `cd e2e && npm ci`):
//   CONVENE_ENDPOINT=http://127.0.0.1:8080 CONVENE_ACCESS_KEY_ID=AKIDEXAMPLE \
//   CONVENE_SECRET_ACCESS_KEY=secret CONVENE_PYTHON=python3 node e2e/console.mjs
//
// Environment:
//   CONVENE_ENDPOINT           base URL of a running server (required)
//   CONVENE_ACCESS_KEY_ID      a key of the account (default AKIDEXAMPLE)
//   CONVENE_SECRET_ACCESS_KEY  its secret (default secret)
//   CONVENE_PYTHON             a Python with boto3 (default python3)
//   CHROMIUM                   browser executable (default /usr/bin/chromium)
//   E2E_ARTIFACTS              where console.png goes (default e2e/artifacts)
//
// Exit status 0 when every check passed, 1 otherwise, 2 on a setup problem. The last line
// printed is "console: N passed, M failed".

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ENDPOINT = process.env.CONVENE_ENDPOINT;
const KEY = process.env.CONVENE_ACCESS_KEY_ID || 'AKIDEXAMPLE';
const SECRET = process.env.CONVENE_SECRET_ACCESS_KEY || 'secret';
const PYTHON = process.env.CONVENE_PYTHON || 'python3';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.E2E_ARTIFACTS || path.join(HERE, 'artifacts');

let passed = 0;
let failed = 0;
function check(ok, what) {
  if (ok) {
    passed += 1;
    console.log(`ok: ${what}`);
  } else {
    failed += 1;
    console.log(`FAILED: ${what}`);
  }
}
function finish(code) {
  console.log(`console: ${passed} passed, ${failed} failed`);
  process.exit(code ?? (failed ? 1 : 0));
}

function boto3(...args) {
  const r = spawnSync(PYTHON, [path.join(HERE, 'console_boto3.py'), ...args], {
    env: { ...process.env, CONVENE_ENDPOINT: ENDPOINT, CONVENE_ACCESS_KEY_ID: KEY, CONVENE_SECRET_ACCESS_KEY: SECRET },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`boto3 ${args.join(' ')} failed: ${r.stderr || r.error}`);
  return JSON.parse(r.stdout);
}

async function main() {
  if (!ENDPOINT) {
    console.error('console: CONVENE_ENDPOINT is not set');
    finish(2);
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`console: no browser at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`);
    finish(2);
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const deadline = setTimeout(() => {
    console.log('FAILED: the console test did not finish within 120 s');
    failed += 1;
    finish(1);
  }, 120_000);
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    // Refused requests (the first session check, the wrong secret) are expected; script errors are not.
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 401/.test(m.text())) pageErrors.push(m.text());
    });

    // Sign in: a wrong secret first.
    await page.goto(`${ENDPOINT}/console`);
    await page.locator('#signin').waitFor({ state: 'visible', timeout: 10_000 });
    await page.fill('#akid', KEY);
    await page.fill('#secret', 'not-the-secret');
    await page.click('#signin-button');
    await page.locator('#signin-error').filter({ hasText: /wrong secret/i }).waitFor({ timeout: 10_000 });
    check(true, 'a wrong secret is refused with a message');
    await page.fill('#secret', SECRET);
    await page.click('#signin-button');
    await page.locator('#app').waitFor({ state: 'visible', timeout: 10_000 });
    check((await page.textContent('#account')).trim().length === 12, 'signed in: the account is shown');
    // Let the first overview arrive, so that what boto3 does next shows as activity.
    await page.waitForFunction(() => document.querySelector('#updated')?.textContent.startsWith('updated'), null, { timeout: 10_000 });
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'convene_console');
    check(session && session.httpOnly && session.sameSite === 'Strict', 'the session is an HttpOnly, SameSite=Strict cookie');
    check(await page.evaluate(() => !document.cookie.includes('convene_console')), 'page script cannot read the session cookie');

    // boto3 creates a meeting; it appears without a reload.
    const name = `console-e2e-${Date.now()}`;
    const created = boto3('create', name);
    const meetingId = created.MeetingId;
    const alice = created.Attendees.find((a) => a.ExternalUserId === 'alice');
    const bob = created.Attendees.find((a) => a.ExternalUserId === 'bob');
    const card = page.locator(`[data-meeting-id="${meetingId}"]`);
    await card.waitFor({ state: 'visible', timeout: 10_000 });
    check(true, 'the meeting created by boto3 appears on the page');
    check((await card.locator('.title').textContent()).trim() === name, 'it shows the ExternalMeetingId');
    await card.locator('.head').click();
    const rows = card.locator('[data-testid="attendee"]');
    await rows.nth(1).waitFor({ state: 'visible', timeout: 5_000 });
    check((await rows.count()) === 2, 'both attendees are listed');
    check((await card.textContent()).includes('console-e2e'), 'the tag is shown');
    await page.locator('#activity li', { hasText: `Meeting ${name} created` }).waitFor({ timeout: 5_000 });
    check(true, 'the activity list says the meeting was created');
    // The live event stream (the event log API's server-sent events, through a presigned URL).
    const started = page.locator('#events li[data-event-type="MeetingStarted"]', { hasText: name });
    await started.waitFor({ timeout: 10_000 });
    check(true, 'the event stream shows MeetingStarted live');
    const added = page.locator(`#events li[data-event-type="AttendeeAdded"][data-event-meeting="${meetingId}"]`);
    await added.nth(1).waitFor({ timeout: 10_000 });
    const order = await page.$$eval(`#events li[data-event-meeting="${meetingId}"]`,
      (lis) => lis.map((li) => [li.dataset.eventType, Number(li.dataset.eventId)]).reverse());
    check(order.length >= 3 && order[0][0] === 'MeetingStarted' && order.every((e, i) => i === 0 || e[1] > order[i - 1][1]),
      `the stream's events arrive in order (${JSON.stringify(order)})`);
    check((await page.textContent('#events-state')).trim() === 'live', 'the stream says it is live');
    await page.screenshot({ path: path.join(ARTIFACTS, 'console.png'), fullPage: true });

    // Change Alice's capabilities through the page; boto3 agrees.
    const aliceRow = card.locator(`[data-attendee-id="${alice.AttendeeId}"]`);
    await aliceRow.locator('[data-testid="cap-video"]').selectOption('None');
    await aliceRow.locator('[data-testid="cap-content"]').selectOption('None');
    await aliceRow.locator('[data-testid="cap-audio"]').selectOption('Receive');
    await aliceRow.locator('[data-testid="apply-caps"]').click();
    let caps = null;
    for (let i = 0; i < 40; i += 1) {
      caps = boto3('attendee', meetingId, alice.AttendeeId).Attendee?.Capabilities;
      if (caps && caps.Audio === 'Receive') break;
      await page.waitForTimeout(250);
    }
    check(caps && caps.Audio === 'Receive' && caps.Video === 'None' && caps.Content === 'None',
      `the page's capability change is what GetAttendee returns (${JSON.stringify(caps)})`);
    await page.waitForFunction(
      (id) => document.querySelector(`[data-attendee-id="${id}"] [data-testid="cap-audio"]`)?.value === 'Receive',
      alice.AttendeeId, { timeout: 5_000 });
    check(true, 'the page shows the new capabilities after refreshing');

    // Remove Bob through the page (a click to arm, a click to confirm).
    const bobRow = card.locator(`[data-attendee-id="${bob.AttendeeId}"]`);
    await bobRow.locator('[data-testid="remove-attendee"]').click();
    await bobRow.locator('[data-testid="remove-attendee"]').click();
    await bobRow.waitFor({ state: 'detached', timeout: 10_000 });
    check(true, 'the removed attendee leaves the page');
    await page.locator('#activity li', { hasText: `bob removed from ${name}` }).waitFor({ timeout: 5_000 });
    check(true, 'the activity list says bob was removed');
    await page.locator('#events li[data-event-type="AttendeeDeleted"]', { hasText: 'bob' }).waitFor({ timeout: 10_000 });
    check(true, 'the event stream shows AttendeeDeleted for bob');
    const listed = boto3('attendees', meetingId).Attendees.map((a) => a.AttendeeId);
    check(listed.length === 1 && listed[0] === alice.AttendeeId, 'ListAttendees agrees: only alice is left');
    check(boto3('attendee', meetingId, bob.AttendeeId).Error === 'NotFoundException', 'GetAttendee of bob is NotFoundException');
    check((await card.locator('[data-testid="attendee-count"]').textContent()).trim() === '1 attendee', 'the count says 1 attendee');
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-after.png'), fullPage: true });

    // End the meeting through the page.
    await card.locator('[data-testid="end-meeting"]').click();
    await card.locator('[data-testid="end-meeting"]').click();
    await card.waitFor({ state: 'detached', timeout: 10_000 });
    check(boto3('meeting', meetingId).Error === 'NotFoundException', 'after "End meeting", GetMeeting is NotFoundException');
    await page.locator(`#events li[data-event-type="MeetingEnded"][data-event-meeting="${meetingId}"]`).waitFor({ timeout: 10_000 });
    check(true, 'the event stream shows MeetingEnded');
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-events.png'), fullPage: true });

    // Signing out ends the session.
    await page.click('#signout');
    await page.locator('#signin').waitFor({ state: 'visible', timeout: 5_000 });
    const after = await page.evaluate(async () => (await fetch('/console/api/overview')).status);
    check(after === 401, 'after signing out the overview is refused');
    check(pageErrors.length === 0, `no script errors on the page${pageErrors.length ? ': ' + pageErrors.join(' | ') : ''}`);
  } catch (e) {
    failed += 1;
    console.log(`FAILED: ${e.stack || e}`);
  } finally {
    clearTimeout(deadline);
    await browser.close().catch(() => {});
  }
  finish();
}

main();
