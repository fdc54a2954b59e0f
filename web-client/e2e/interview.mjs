// End-to-end in Chromium (issue 20): the interview around the editor. The candidate reads the brief
// (rendered safely), sees the clock with the time left and a banner true to the room, receives a
// question the interviewer pushes (and a late joiner sees it too), and notes an integrity signal that
// the interviewer then reads. After End the interviewer reviews the room: the final code, notes that
// survive a reload, the report and Reopen; the candidate's link still says it ended, and the dashboard
// opens the same review, from which the room is reopened. Usage: node e2e/interview.mjs <base_url> <api_key> <screenshot_dir>; prints
// exactly one JSON line, {"ok": bool, "checks": [...], "error"?}.

import { mkdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { LAUNCH, api, checks, env, expect, newPage, pass, waitSynced, runAndReport } from './lib.mjs'

const GLOBAL_TIMEOUT_MS = 120_000

const [baseArg, apiKey, shotDir] = process.argv.slice(2)
if (!baseArg || !apiKey || !shotDir) {
  console.log(JSON.stringify({ ok: false, error: 'usage: node e2e/interview.mjs <base_url> <api_key> <screenshot_dir>', checks: [] }))
  process.exit(1)
}
const base = baseArg.replace(/\/+$/, '')
env.base = base
env.apiKey = apiKey

const CODE = 'class LRU:\n    def get(self, key):\n        return None\n'
const TYPED = '# typed-live-e2e'
const BRIEF = '# Build an LRU cache\n\nImplement `get` and **put**.\n\n- evict the least recently used\n- keep both O(1)\n\nRaw <img src=x onerror="window.__pwned=1"> stays text.\n'
const QUESTION = 'Why a dict and a linked list? (e2e-q-41)'
const NOTE = 'pasted from my own earlier file (e2e-note-7)'
const REVIEW_NOTES = 'review notes survive a reload (e2e-rn-3)'
const CANDIDATE = 'Cand Idate'
const SUBMISSION = {
  candidate: { name: CANDIDATE },
  exercise: { title: 'LRU cache (interview e2e)', language: 'python', brief: BRIEF },
  files: [{ path: 'lru.py', content: CODE }],
  events: [{ at_ms: 5000, kind: 'paste', file: 'lru.py', length: 240 }],
}

async function run() {
  mkdirSync(shotDir, { recursive: true })
  const created = await api('POST', '/api/v1/submissions', SUBMISSION)
  expect('submission_with_brief_created', created.status === 201, JSON.stringify(created.json))
  const subId = created.json.id
  const promoted = await api('POST', `/api/v1/submissions/${subId}/promote`, {
    interviewer: { name: 'Ivy Interviewer' },
    duration_min: 30,
    candidate_sees_integrity: true,
  })
  expect('promoted_with_length_and_transparency', promoted.status === 200 && promoted.json.outcome === 'opened', JSON.stringify(promoted.json))
  const { links } = promoted.json

  env.browser = await chromium.launch(LAUNCH)
  const iv = await newPage('interviewer')
  await iv.goto(links.interviewer)
  await waitSynced(iv)
  const cand = await newPage('candidate')
  await cand.goto(links.candidate)
  await waitSynced(cand)

  // The banner says only what is true: this room has no voice.
  const banner = await cand.locator('[data-testid="candidate-banner"]').innerText()
  expect('banner_true_to_the_room', banner.includes('This session is recorded') && !/voice/i.test(banner), banner)

  // The brief, rendered from Markdown as DOM nodes: the raw HTML in it stays text.
  await cand.click('[data-testid="brief-toggle"]')
  const brief = cand.locator('[data-testid="brief-body"]')
  await brief.waitFor()
  const rendered = await brief.evaluate((el) => ({
    heading: el.querySelector('h3')?.textContent ?? '',
    code: [...el.querySelectorAll('code')].map((c) => c.textContent),
    items: el.querySelectorAll('li').length,
    img: el.querySelector('img') !== null,
    text: el.textContent ?? '',
  }))
  const pwned = await cand.evaluate(() => window.__pwned === 1)
  expect(
    'brief_rendered_safely',
    rendered.heading === 'Build an LRU cache' && rendered.code.includes('get') && rendered.items === 2 && !rendered.img && !pwned && rendered.text.includes('<img'),
    JSON.stringify(rendered),
  )

  // The clock: time since the start, and the time left of the 30 minutes promote gave.
  const elapsed = await cand.locator('[data-testid="clock-elapsed"]').innerText()
  const left = await cand.locator('[data-testid="clock-left"]').innerText()
  expect('clock_shows_elapsed_and_left', /\d+:\d\d/.test(elapsed) && /(29|30):\d\d left/.test(left), `${elapsed} ${left}`)
  await cand.screenshot({ path: join(shotDir, 'candidate-brief.png') })

  // A question the interviewer pushes reaches the candidate live, and a late joiner reads it too.
  await iv.fill('[data-testid="question-input"]', QUESTION)
  await iv.click('[data-testid="question-send"]')
  await cand.locator('[data-testid="question"]', { hasText: QUESTION }).waitFor()
  pass('pushed_question_reaches_candidate')
  await iv.screenshot({ path: join(shotDir, 'interviewer-questions.png') })
  await cand.screenshot({ path: join(shotDir, 'candidate-question.png') })
  const obs = await newPage('observer')
  await obs.goto(links.observer)
  await waitSynced(obs)
  await obs.locator('[data-testid="question"]', { hasText: QUESTION }).waitFor()
  pass('late_joiner_sees_questions')

  // The candidate sees their own signals and notes one; the interviewer reads the note.
  await cand.click('[data-testid="own-integrity-toggle"]')
  const own = cand.locator('[data-testid="own-flag"]', { hasText: 'paste' }).first()
  await own.locator('[data-testid="own-integrity-note"]').fill(NOTE)
  await own.locator('[data-testid="own-integrity-save"]').click()
  await own.locator('[data-testid="own-integrity-status"]', { hasText: 'Saved' }).waitFor()
  await iv.reload()
  await waitSynced(iv)
  // The candidate's notes sit under the flags, in the panel's Context tab.
  await iv.click('[data-testid="tab-context"]')
  await iv.locator('[data-testid="candidate-note"]', { hasText: NOTE }).waitFor()
  pass('candidate_note_reaches_interviewer')

  // The interviewer's Context tab links the REST API's description; the candidate's page has no such link.
  const spec = await iv.locator('[data-testid="room-openapi-link"]').getAttribute('href')
  const specBody = await (await fetch(new URL(spec, base))).json()
  const candLinks = await cand.locator('[data-testid="room-openapi-link"]').count()
  expect('room_links_openapi', specBody.openapi?.startsWith('3.1') && candLinks === 0, `${spec} ${specBody.openapi} candidate ${candLinks}`)
  await iv.locator('[data-testid="room-openapi-link"]').scrollIntoViewIfNeeded()
  await iv.screenshot({ path: join(shotDir, 'interviewer-context-api-link.png') })

  // The candidate types; then the interviewer ends the room and lands in the review.
  await cand.click('[data-testid="editor"] .cm-content')
  await cand.keyboard.press('Control+End')
  await cand.keyboard.type(`\n${TYPED}`)
  await iv.waitForFunction((t) => window.__handoff?.view?.state.doc.toString().includes(t), TYPED)
  iv.on('dialog', (d) => d.accept())
  await iv.click('[data-testid="end-room"]')
  await iv.waitForSelector('[data-testid="review"]')
  await iv.waitForFunction((t) => window.__handoff?.view?.state.doc.toString().includes(t), TYPED)
  const status = await iv.locator('[data-testid="review-status"]').innerText()
  expect('review_after_end', status.includes('can be reopened until'), status)
  expect('review_offers_report_and_reopen', (await iv.locator('[data-testid="download-report"]').count()) === 1 && (await iv.locator('[data-testid="reopen-room"]').count()) === 1)
  // The report downloads as one HTML page a committee can open: the candidate, the code they typed.
  const [download] = await Promise.all([iv.waitForEvent('download'), iv.click('[data-testid="download-report"]')])
  const report = await readFile(await download.path(), 'utf8')
  expect(
    'review_downloads_report',
    download.suggestedFilename().endsWith('.html') && report.includes('<html') && report.includes(CANDIDATE) && report.includes(TYPED),
    `${download.suggestedFilename()} ${report.length} bytes`,
  )
  await iv.locator('[data-testid="question"]', { hasText: QUESTION }).waitFor()
  pass('review_keeps_questions')

  // Notes stay editable in the review and survive a reload.
  await iv.fill('[data-testid="notes"]', REVIEW_NOTES)
  await iv.locator('[data-testid="notes"]').blur()
  await iv.waitForSelector('[data-testid="notes-status"][data-state="saved"]')
  await iv.reload()
  await iv.waitForSelector('[data-testid="review"]')
  const notes = await iv.locator('[data-testid="notes"]').inputValue()
  expect('review_notes_survive_reload', notes === REVIEW_NOTES, notes)
  await iv.click('[data-testid="mode-diff"]')
  await iv.waitForFunction((t) => [...document.querySelectorAll('[data-testid="diff"] .cm-changedLine')].some((e) => e.textContent.includes(t)), TYPED)
  pass('review_shows_diff')
  await iv.screenshot({ path: join(shotDir, 'review.png') })

  // The candidate's link keeps saying the interview ended. (Going to the same path with a fragment
  // does not load the page again: reload it, so the answer comes from a fresh load.)
  await cand.goto(links.candidate)
  await cand.reload()
  const ended = await cand.locator('[data-testid="ended"]').innerText()
  expect('candidate_link_still_ended', ended.includes('This interview has ended'), ended)

  // The dashboard says the room ended (and until when it may be reopened) and opens the same review.
  const dash = await newPage('dashboard')
  await dash.goto(`${base}/submissions/${subId}`)
  await dash.fill('[data-testid="signin-key"]', apiKey)
  await dash.click('[data-testid="signin-submit"]')
  const endedText = await dash.locator('[data-testid="ended-room-text"]').innerText()
  const badge = await dash.locator('[data-testid="room-status"]').innerText()
  expect('dashboard_status_ended', badge.includes('ended') && endedText.includes('reopen'), `${badge} / ${endedText}`)
  expect('dashboard_offers_reopen_or_new', (await dash.locator('[data-testid="promote-reopen"]').count()) === 1 && (await dash.locator('[data-testid="promote-new"]').count()) === 1)
  const [dashDownload] = await Promise.all([dash.waitForEvent('download'), dash.click('[data-testid="download-report"]')])
  const dashReport = await readFile(await dashDownload.path(), 'utf8')
  expect('dashboard_downloads_report', dashReport.includes(CANDIDATE) && dashReport.includes(TYPED), `${dashReport.length} bytes`)
  await dash.click('[data-testid="open-review"]')
  await dash.waitForSelector('[data-testid="review"]')
  const dashNotes = await dash.locator('[data-testid="notes"]').inputValue()
  expect('dashboard_opens_review', dashNotes === REVIEW_NOTES, dashNotes)

  // Reopen from that review: the room is live again, with its code, and the candidate's link works again.
  dash.on('dialog', (d) => d.accept())
  await dash.click('[data-testid="reopen-room"]')
  await waitSynced(dash)
  await dash.waitForFunction((t) => window.__handoff?.view?.state.doc.toString().includes(t), TYPED)
  pass('review_reopens_the_room')
  await cand.goto(links.candidate)
  await cand.reload()
  await waitSynced(cand)
  pass('candidate_link_works_after_reopen')
}

await runAndReport(run, GLOBAL_TIMEOUT_MS)
