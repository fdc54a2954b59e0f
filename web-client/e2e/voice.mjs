// End-to-end voice in headless Chromium (issue 21): the interviewer and the candidate, each in their own
// browser with a fake microphone playing a distinct tone, join voice through the server's SFU and hear
// each other (getStats: inbound audio packets and bytes grow, audio energy is there while the other
// speaks and gone while they are muted; the tone that arrives is the other's); the interviewer mutes the
// candidate; a denied microphone and a blocked network each show a clear state; a dropped WebSocket
// rejoins voice by itself; with recordings on, the Session record's replay
// plays the candidate's recording aligned with an edit they made while speaking.
// Usage: node e2e/voice.mjs <base_url> <api_key> <screenshot_dir> [replay]; prints exactly one JSON
// line, {"ok": bool, "checks": [...], "error"?}. Run by server/tests/web_voice.rs inside a network
// namespace with only loopback.

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { LAUNCH, STEP_TIMEOUT_MS, api, env, expect, pass, runAndReport, waitSynced } from './lib.mjs'
import { inbound, peakHz, untilEnergy, untilGrows } from './voice-lib.mjs'
import { voiceStateChecks } from './voice-states.mjs'

const GLOBAL_TIMEOUT_MS = 240_000
/** The interviewer's and the candidate's microphone tones, far apart so either is told from the other. */
const TONES = { interviewer: 330, candidate: 880 }
/** Received energy per second of audio (level² × s / s) above this: someone is heard. */
const SPEAKING_ENERGY = 0.0005
/** Below this: silence (a muted speaker's packets are not forwarded at all). */
const SILENT_ENERGY = 0.0001
/** Packets (20 ms each) of the rejoined voice heard before the edit: 2 s, so the edit sits past the
 * replay check's first second of that recording even when the page is slow to type. */
const RECORDED_BEFORE_EDIT_PACKETS = 100

const [baseArg, apiKey, shotDir, mode] = process.argv.slice(2)
if (!baseArg || !apiKey || !shotDir) {
  console.log(JSON.stringify({ ok: false, error: 'usage: node e2e/voice.mjs <base_url> <api_key> <screenshot_dir> [replay]', checks: [] }))
  process.exit(1)
}
env.base = baseArg.replace(/\/+$/, '')
env.apiKey = apiKey

const CANDIDATE = 'Vera Voice'
const TYPED = '# said-while-speaking-e2e'
const SUBMISSION = {
  candidate: { name: CANDIDATE },
  exercise: { title: 'Voice e2e', language: 'python' },
  files: [{ path: 'main.py', content: 'print("hello")\n' }],
}

/** A 16-bit mono 48 kHz WAV of a sine at `hz` (Chromium loops the file as the fake microphone). */
function toneWav(path, hz, seconds = 4) {
  const rate = 48_000
  const n = rate * seconds
  const buf = Buffer.alloc(44 + n * 2)
  buf.write('RIFF', 0)
  buf.writeUInt32LE(36 + n * 2, 4)
  buf.write('WAVEfmt ', 8)
  buf.writeUInt32LE(16, 16)
  buf.writeUInt16LE(1, 20)
  buf.writeUInt16LE(1, 22)
  buf.writeUInt32LE(rate, 24)
  buf.writeUInt32LE(rate * 2, 28)
  buf.writeUInt16LE(2, 32)
  buf.writeUInt16LE(16, 34)
  buf.write('data', 36)
  buf.writeUInt32LE(n * 2, 40)
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 12_000), 44 + i * 2)
  writeFileSync(path, buf)
  return path
}

const browsers = []

/** A check on what was heard; its figures go to stderr either way, for whoever tunes the thresholds. */
function heard(name, result) {
  process.stderr.write(`${name}: ${JSON.stringify(result)}\n`)
  expect(name, result.ok, JSON.stringify(result))
}

/** A browser of its own (its own fake microphone), and a page in it. */
async function voicePage(name, wav) {
  const browser = await chromium.launch({
    ...LAUNCH,
    args: [
      ...LAUNCH.args,
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`,
      '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
    ],
  })
  browsers.push(browser)
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } })
  const page = await context.newPage()
  page.setDefaultTimeout(STEP_TIMEOUT_MS)
  page.on('pageerror', (e) => process.stderr.write(`[${name}] page error: ${e.message}\n`))
  page.on('response', (r) => {
    if (r.status() >= 400) process.stderr.write(`[${name}] ${r.status()} ${r.url()}\n`)
  })
  page.on('console', (m) => {
    if (m.type() === 'error') process.stderr.write(`[${name}] console: ${m.text()}\n`)
  })
  return page
}

/** Presses "Join voice", checks the meter moves in the microphone check, joins, waits for connected. */
async function joinVoice(page, who) {
  await page.getByRole('button', { name: 'Join voice', exact: true }).click()
  await page.locator('[data-testid="voice-check"]').waitFor()
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="voice-meter"]')?.value ?? 0) > 0.02)
  const devices = await page.locator('[data-testid="voice-mic"] option').count()
  expect(`${who}_mic_check_meter_moves`, devices >= 1, `${devices} devices`)
  await page.click('[data-testid="voice-check-join"]')
  await page.waitForSelector('[data-testid="voice-bar"][data-phase="connected"]', { timeout: 30_000 })
}

const memberOf = (page, role) => page.getAttribute(`[data-testid="voice-person"][data-role="${role}"]`, 'data-member')

async function run() {
  mkdirSync(shotDir, { recursive: true })
  const dir = mkdtempSync(join(tmpdir(), 'handoff-voice-'))
  const created = await api('POST', '/api/v1/submissions', SUBMISSION)
  expect('submission_created', created.status === 201, JSON.stringify(created.json))
  const promoted = await api('POST', `/api/v1/submissions/${created.json.id}/promote`, { interviewer: { name: 'Ivo Interviewer' }, voice: true })
  expect('promoted_with_voice', promoted.status === 200, JSON.stringify(promoted.json))
  const { links, room, tokens } = promoted.json

  const iv = await voicePage('interviewer', toneWav(join(dir, 'interviewer.wav'), TONES.interviewer))
  env.browser = browsers[0]
  const cand = await voicePage('candidate', toneWav(join(dir, 'candidate.wav'), TONES.candidate))
  await iv.goto(links.interviewer)
  await waitSynced(iv)
  await cand.goto(links.candidate)
  await waitSynced(cand)

  const banner = await cand.locator('[data-testid="candidate-banner"]').innerText()
  expect('banner_voice_optional_and_recorded', banner.includes('Voice is optional') && banner.includes('voice included'), banner)
  const before = await cand.locator('[data-testid="voice-person"]').count()
  expect('nobody_in_voice_before_joining', before === 0, `${before} in voice`)

  await joinVoice(cand, 'candidate')
  await joinVoice(iv, 'interviewer')
  pass('both_joined_voice')
  await iv.waitForFunction(() => document.querySelectorAll('[data-testid="voice-person"]').length === 2)
  await cand.waitForFunction(() => document.querySelectorAll('[data-testid="voice-person"]').length === 2)
  const candMember = await memberOf(iv, 'candidate')
  const ivMember = await memberOf(cand, 'interviewer')

  // Each hears the other: packets and bytes grow, energy is there, and the tone is the other's.
  for (const [page, who, other, member] of [
    [iv, 'interviewer', 'candidate', candMember],
    [cand, 'candidate', 'interviewer', ivMember],
  ]) {
    await page.waitForSelector(`[data-testid="voice-audio-el"][data-member="${member}"]`, { state: 'attached' })
    const grew = await untilGrows(page)
    heard(`${who}_receives_packets`, grew)
    const loud = await untilEnergy(page, (rate) => rate > SPEAKING_ENERGY)
    heard(`${who}_hears_energy`, loud)
    const hz = await peakHz(page, member, TONES[other])
    heard(`${who}_hears_the_${other}s_tone`, hz)
  }
  // Speaking rings from the server's levels.
  await iv.waitForSelector(`[data-testid="voice-person"][data-member="${candMember}"][data-speaking="true"]`)
  pass('speaking_ring_from_levels')
  await iv.screenshot({ path: join(shotDir, 'voice-interviewer.png') })

  // The candidate mutes: the interviewer sees it, and the energy that reaches them drops to near zero.
  const mute = cand.getByRole('button', { name: 'Mute', exact: true })
  await mute.click()
  await cand.waitForSelector('[data-testid="voice-mute"][aria-pressed="true"]')
  await iv.waitForSelector(`[data-testid="voice-person"][data-member="${candMember}"][data-muted="true"]`)
  const quiet = await untilEnergy(iv, (rate) => rate < SILENT_ENERGY)
  heard('muted_candidate_is_silent', quiet)
  await mute.click()
  await cand.waitForSelector('[data-testid="voice-mute"][aria-pressed="false"]')
  const back = await untilEnergy(iv, (rate) => rate > SPEAKING_ENERGY)
  heard('unmuted_candidate_heard_again', back)

  // The interviewer mutes the candidate; the candidate cannot unmute, until the interviewer does.
  await iv.getByRole('button', { name: `Mute ${CANDIDATE}`, exact: true }).click()
  await cand.waitForSelector('[data-testid="voice-mute"][aria-pressed="true"][data-by-interviewer="true"]')
  const forced = await untilEnergy(iv, (rate) => rate < SILENT_ENERGY)
  await mute.click()
  await cand.locator('[data-testid="voice-alert"]', { hasText: 'interviewer muted you' }).waitFor()
  heard('interviewer_mutes_candidate', forced)
  await iv.getByRole('button', { name: `Unmute ${CANDIDATE}`, exact: true }).click()
  await cand.waitForSelector('[data-testid="voice-mute"][aria-pressed="false"]')
  const freed = await untilEnergy(iv, (rate) => rate > SPEAKING_ENERGY)
  heard('interviewer_unmutes_candidate', freed)

  // A denied microphone and a network that lets no voice through each get a clear state.
  await voiceStateChecks(browsers[0], links)

  // The candidate's WebSocket drops: voice comes back by itself with the socket.
  const dropped = await inbound(iv)
  const oldYou = await cand.evaluate(() => window.__handoffVoice.you)
  await cand.evaluate(() => window.__handoff.provider.ws.close())
  await cand.waitForFunction((old) => window.__handoffVoice.you !== old && window.__handoffVoice.phase === 'connected', oldYou, { timeout: 30_000 })
  await iv.waitForFunction(() => [...document.querySelectorAll('[data-testid="voice-person"]')].some((e) => e.dataset.role === 'candidate'))
  const newMember = await memberOf(iv, 'candidate')
  // The edit below must land well inside the rejoined voice's recording (the replay check seeks to it),
  // so the interviewer first hears RECORDED_BEFORE_EDIT_PACKETS of it.
  const regrew = await untilGrows(iv, dropped, RECORDED_BEFORE_EDIT_PACKETS)
  expect('voice_rejoins_after_reconnect', newMember !== candMember && regrew.ok, `member ${candMember} → ${newMember}, ${JSON.stringify(regrew)}`)

  // An edit while the candidate speaks, then they leave voice (the recording closes).
  await cand.click('[data-testid="editor"] .cm-content')
  await cand.keyboard.press('Control+End')
  await cand.keyboard.type(`\n${TYPED}`)
  await iv.waitForFunction((t) => window.__handoff?.view?.state.doc.toString().includes(t), TYPED)
  const stillLoud = await untilEnergy(iv, (rate) => rate > SPEAKING_ENERGY)
  heard('edit_made_while_speaking', stillLoud)
  await cand.getByRole('button', { name: 'Leave voice', exact: true }).click()
  await iv.waitForFunction(() => ![...document.querySelectorAll('[data-testid="voice-person"]')].some((e) => e.dataset.role === 'candidate'))
  pass('leave_removes_participant')

  if (mode === 'replay') {
    const { replayChecks } = await import('./voice-replay.mjs')
    await replayChecks({ iv, roomId: room.id, ivToken: tokens.interviewer, candidateName: CANDIDATE, tone: TONES.candidate, shotDir })
  }
}

runAndReport(
  () =>
    run().finally(async () => {
      // runAndReport closes env.browser; the other one closes here.
      for (const b of browsers.slice(1)) await b.close().catch(() => {})
    }),
  GLOBAL_TIMEOUT_MS,
)
