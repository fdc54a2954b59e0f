// End-to-end run of the web client against a running handoff server that serves the built dist/.
//
//   node e2e/e2e.mjs <base_url> <api_key> <screenshot_dir>
//
// Posts a sample submission, then drives three browser contexts (interviewer, candidate, observer)
// through promote → join → edit → offline and back → diff → end; then a second room for keyboard
// navigation and a ~2 MiB file, and the interviewer's session record (checks-*.mjs; shared helpers in lib.mjs);
// every page fails the run on a Content-Security-Policy violation, and a probe page checks that an
// injected style cannot fetch another origin (checks-csp.mjs). Prints exactly one JSON line:
// {"ok":true,"checks":[…]} or {"ok":false,"error":"…","checks":[…]}, and exits 0 or 1.

import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { cspBlocksInjectedStyle } from './checks-csp.mjs'
import { fileChecks } from './checks-files.mjs'
import { panelChecks, prefsChecks } from './checks-panel.mjs'
import { reconnectKeepsOfflineEdits } from './checks-reconnect.mjs'
import { LIVE_DIMENSION, recordChecks } from './checks-record.mjs'
import { LAUNCH, api, checks, cspViolations, docFiles, editorText, env, expect, newPage, pass, sameFiles, waitSynced, runAndReport } from './lib.mjs'

const GLOBAL_TIMEOUT_MS = 120_000

const [baseArg, apiKey, shotDir] = process.argv.slice(2)
if (!baseArg || !apiKey || !shotDir) {
  console.log(JSON.stringify({ ok: false, error: 'usage: node e2e/e2e.mjs <base_url> <api_key> <screenshot_dir>', checks: [] }))
  process.exit(1)
}
const base = baseArg.replace(/\/+$/, '')
env.base = base
env.apiKey = apiKey

// Markers that must never reach the candidate: unique strings, so a hit cannot be a coincidence.
const NOTES = 'PRIVATE-NOTE e2e 91c7: ask about eviction order'
const DIMENSIONS = ['Eviction-Correctness-Zq9', 'Naming-Clarity-Zq9']
const INTEGRITY_MARKER = 'INTEGRITY-MARKER-7f3a'
const FLAG_DETAIL = 'pasted 240 characters'
const CANDIDATE = 'Ada Candidate'
const INTERVIEWER = 'Grace Interviewer'
const TYPED = '# candidate-edit-42'

const LRU = `from collections import OrderedDict


class LRUCache:
    """A least-recently-used cache with a fixed capacity."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: OrderedDict[str, int] = OrderedDict()

    def get(self, key: str) -> int | None:
        if key not in self.items:
            return None
        self.items.move_to_end(key)
        return self.items[key]

    def put(self, key: str, value: int) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        if len(self.items) > self.capacity:
            self.items.popitem(last=False)
`

const FILES = [
  { path: 'lru.py', content: LRU },
  {
    path: 'tests/test_lru.py',
    content: 'from lru import LRUCache\n\n\ndef test_evicts_oldest():\n    c = LRUCache(1)\n    c.put("a", 1)\n    c.put("b", 2)\n    assert c.get("a") is None\n',
  },
  { path: 'README.md', content: '# LRU cache\n\nRun `pytest`.\n' },
  { path: 'tools/bench.js', content: 'export function bench(fn, n = 1000) {\n  const t = performance.now()\n  for (let i = 0; i < n; i++) fn(i)\n  return performance.now() - t\n}\n' },
]

const SUBMISSION = {
  candidate: { name: CANDIDATE, email: 'ada@example.com' },
  exercise: { title: 'LRU cache (e2e)', language: 'python' },
  files: FILES,
  events: [
    { at_ms: 0, kind: 'focus_gained' },
    { at_ms: 4000, kind: 'edit', file: 'lru.py', insert: 'from' },
    { at_ms: 4500, kind: 'edit', file: 'lru.py', insert: ' collections' },
    { at_ms: 52_000, kind: 'paste', file: 'lru.py', length: 240, lines: [11, 21] },
    { at_ms: 60_000, kind: 'focus_lost' },
    { at_ms: 125_000, kind: 'focus_gained' },
    { at_ms: 180_000, kind: 'run', passed: 1, failed: 0 },
  ],
  integrity: { paste_count: 1, platform_note: INTEGRITY_MARKER },
  scorecard: {
    rubric: [
      { dimension: DIMENSIONS[0], score: 3, max: 4, evidence: [{ file: 'lru.py', lines: [17, 21], note: 'evicts on put' }] },
      { dimension: DIMENSIONS[1], score: 2, max: 2, evidence: [{ at_ms: 52_000, note: 'clear names' }] },
    ],
    summary: 'Solid, with one large paste worth asking about.',
  },
}

async function run() {
  mkdirSync(shotDir, { recursive: true })

  // 1. The platform posts a submission.
  const created = await api('POST', '/api/v1/submissions', SUBMISSION)
  expect('submission_created', created.status === 201 && created.json?.id, `POST /submissions → ${created.status} ${JSON.stringify(created.json)}`)
  const subId = created.json.id

  env.browser = await chromium.launch(LAUNCH)

  // 2. The interviewer signs in on the dashboard with the API key.
  const iv = await newPage('interviewer')
  await iv.goto(`${base}/`)
  await iv.waitForSelector('[data-testid="signin-form"]')
  await iv.fill('[data-testid="signin-key"]', apiKey)
  await iv.click('[data-testid="signin-submit"]')
  const row = iv.locator(`[data-testid="submission-row"][data-id="${subId}"]`)
  await row.waitFor()
  const rowText = await row.innerText()
  expect('dashboard_lists_submission', rowText.includes(CANDIDATE) && rowText.includes('2 flags'), rowText)
  await iv.screenshot({ path: join(shotDir, 'dashboard.png') })

  // Importing a submission from a JSON file opens it.
  const imported = {
    candidate: { name: 'Imported Person' },
    exercise: { title: 'Imported (e2e)', language: 'java' },
    files: [{ path: 'src/Main.java', content: 'class Main {\n  public static void main(String[] a) {}\n}\n' }],
  }
  await iv.setInputFiles('[data-testid="import-input"]', { name: 'submission.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(imported)) })
  await iv.waitForSelector('[data-testid="submission-detail"] h1:has-text("Imported Person")')
  await iv.waitForFunction((want) => window.__handoff?.view?.state.doc.toString() === want, imported.files[0].content)
  pass('import_submission_file')
  await iv.click('.back')
  await row.waitFor()

  // 3. The submission: files, integrity, scorecard; evidence jumps to the cited lines.
  await row.locator('a').click()
  await iv.waitForSelector('[data-testid="submission-detail"] [data-testid="viewer"] .cm-content')
  await iv.waitForFunction((want) => window.__handoff?.view?.state.doc.toString() === want, LRU)
  pass('detail_shows_code')
  const flags = await iv.locator('[data-testid="integrity"] [data-testid="flag"]').count()
  expect('detail_integrity_flags', flags === 2, `${flags} flags`)
  await iv.click('[data-testid="scorecard"] button[data-testid="evidence"][data-file="lru.py"]')
  const selected = await iv.evaluate(() => {
    const s = window.__handoff.view.state
    const r = s.selection.main
    return [s.doc.lineAt(r.from).number, s.doc.lineAt(r.to).number]
  })
  expect('evidence_jumps_to_lines', selected[0] === 17 && selected[1] === 21, JSON.stringify(selected))
  await iv.screenshot({ path: join(shotDir, 'submission.png') })

  // 4. Promote with a length, read the links, open the room. A length the server would refuse is
  // caught in the form, with what to fix.
  await iv.fill('[data-testid="interviewer-name"]', INTERVIEWER)
  await iv.fill('[data-testid="promote-duration"]', '0')
  await iv.click('[data-testid="promote"]')
  const lengthError = await iv.locator('[data-testid="promote-options-error"]').innerText()
  expect('promote_form_refuses_bad_length', lengthError.includes('whole number of minutes'), lengthError)
  await iv.fill('[data-testid="promote-duration"]', '40')
  await iv.click('[data-testid="promote"]')
  const candidateLink = await iv.locator('[data-testid="candidate-link"]').inputValue()
  const observerLink = await iv.locator('[data-testid="observer-link"]').inputValue()
  expect('promote_shows_links', /\/room\/[^/#]+#token=/.test(candidateLink) && /#token=/.test(observerLink), candidateLink)
  await iv.click('[data-testid="open-room"]')
  await waitSynced(iv)
  const leftText = await iv.locator('[data-testid="clock-left"]').innerText()
  expect('promote_form_sets_length', /(39|40):\d\d left/.test(leftText), leftText)
  expect('token_dropped_from_address_bar', !iv.url().includes('#token='), iv.url())
  expect('interviewer_sees_preloaded_code', (await editorText(iv)) === LRU && sameFiles(await docFiles(iv), FILES), 'doc differs from the submission')
  await iv.click('[data-testid="tab-context"]')
  await iv.waitForSelector('[data-testid="private-panel"] [data-testid="flag"]')
  pass('interviewer_private_panel')
  await iv.click('[data-testid="tab-notes"]')
  const hint = await iv.locator('[data-testid="editor-hint"]').innerText()
  expect('editor_exit_hint', /Esc\s*then\s*Tab/.test(hint) && (await iv.locator('[data-testid="editor-hint"]').isVisible()), hint)

  // 5. The candidate joins by link. Record everything that reaches the candidate's browser.
  const cand = await newPage('candidate')
  const seen = []
  // Every response body is read before the scan below; an /api/ body that cannot be read fails the
  // check instead of escaping it (redirects and aborted asset requests have no body).
  const reads = []
  const unread = []
  cand.on('response', (r) => {
    reads.push(r.text().then(
      (body) => seen.push({ url: r.url(), body }),
      () => { if (new URL(r.url()).pathname.startsWith('/api/')) unread.push(r.url()) },
    ))
  })
  cand.on('websocket', (ws) => {
    const keep = (dir) => (f) => seen.push({ url: `${dir} ${ws.url()}`, body: typeof f.payload === 'string' ? f.payload : Buffer.from(f.payload).toString('utf8') })
    ws.on('framereceived', keep('ws<'))
  })
  await cand.goto(candidateLink)
  await waitSynced(cand)
  expect('candidate_sees_preloaded_code', (await editorText(cand)) === LRU && sameFiles(await docFiles(cand), FILES), 'doc differs from the submission')
  const banner = await cand.locator('[data-testid="candidate-banner"]').innerText()
  expect('candidate_banner', banner.includes('This session is recorded'), banner)
  expect('candidate_has_no_private_panel', (await cand.locator('[data-testid="private-panel"]').count()) === 0)

  // 6. The candidate types; the interviewer sees it live, with the candidate's named cursor.
  await cand.click('[data-testid="editor"] .cm-content')
  await cand.keyboard.press('Control+End')
  await cand.keyboard.type(`\n${TYPED}`)
  await iv.waitForFunction((t) => window.__handoff?.view?.state.doc.toString().includes(t), TYPED)
  pass('candidate_edit_reaches_interviewer')
  await iv.waitForFunction((n) => [...document.querySelectorAll('.cm-ySelectionInfo')].some((e) => e.textContent.includes(n)), CANDIDATE)
  pass('candidate_cursor_named')
  // The label is up while its person types or moves (it hides again after a pause, and shows on hover).
  await cand.keyboard.press('ArrowLeft')
  await iv.waitForFunction((n) => [...document.querySelectorAll('.cm-ySelectionInfo.active')].some((e) => e.textContent.includes(n)), CANDIDATE)
  pass('cursor_label_while_typing')

  // The candidate's connection drops; what they type meanwhile arrives once they are back.
  await reconnectKeepsOfflineEdits(iv, cand)

  // 7. An observer joins: read-only.
  const obs = await newPage('observer')
  await obs.goto(observerLink)
  await waitSynced(obs)
  await obs.waitForFunction((t) => window.__handoff?.view?.state.doc.toString().includes(t), TYPED)
  expect('observer_readonly_badge', await obs.locator('[data-testid="readonly-badge"]').isVisible())
  const before = await editorText(obs)
  await obs.click('[data-testid="editor"] .cm-content')
  await obs.keyboard.press('Control+End')
  await obs.keyboard.type('zzz-observer-typing')
  // Barrier on the observer's own socket: a presence change sent after the typing reaches the
  // interviewer only after anything the typing could have sent, so once it arrives the check is final.
  await obs.evaluate(() => window.__handoff.provider.awareness.setLocalStateField('probe', 'after-typing'))
  await iv.waitForFunction(() =>
    [...window.__handoff.provider.awareness.getStates().values()].some((s) => s.probe === 'after-typing'))
  const obsAfter = await editorText(obs)
  const ivAfter = await editorText(iv)
  expect('observer_cannot_edit', obsAfter === before && !ivAfter.includes('zzz-observer'), 'observer text changed')
  await obs.keyboard.press('Control+Home') // park the observer's cursor away from the candidate's
  await iv.waitForFunction(() => document.querySelectorAll('[data-testid="participant"]').length >= 3)
  const roles = await iv.locator('[data-testid="participant"]').evaluateAll((els) => els.map((e) => e.dataset.role).sort())
  expect('participants_listed', JSON.stringify(roles) === JSON.stringify(['candidate', 'interviewer', 'observer']), JSON.stringify(roles))
  // Screen readers hear who came and went (an aria-live region).
  await iv.waitForFunction(() => /\(observer\) joined the room\./.test(document.querySelector('[data-testid="presence-live"]')?.textContent ?? ''))
  expect('presence_announced', (await iv.getAttribute('[data-testid="presence-live"]', 'aria-live')) === 'polite')

  // 7b. A style injected into the room page cannot fetch another origin's URL (CSP img-src).
  await cspBlocksInjectedStyle(observerLink)

  // 8. Private notes save; the interviewer's view of the room.
  await iv.fill('[data-testid="notes"]', NOTES)
  await iv.waitForSelector('[data-testid="notes-status"][data-state="saved"]')
  const roomId = new URL(candidateLink).pathname.split('/').pop()
  const tokenOf = (page) => page.evaluate((id) => sessionStorage.getItem(`handoff.room.${id}`), roomId)
  const stored = await api('GET', `/api/v1/rooms/${roomId}/private`, null, await tokenOf(iv))
  expect('notes_saved', stored.status === 200 && stored.json?.notes === NOTES, `${stored.status}`)
  await iv.waitForSelector('[data-testid="tree-file"][data-path="lru.py"][data-changed="modified"]')
  pass('changed_file_marked')
  await iv.screenshot({ path: join(shotDir, 'room.png') })
  await cand.screenshot({ path: join(shotDir, 'candidate.png') })

  // 8b. The session record: timeline, replay, who wrote what, live scores (checks-record.mjs).
  await recordChecks({
    iv,
    cand,
    roomId,
    candidateName: CANDIDATE,
    typed: TYPED,
    submitted: LRU,
    ivToken: await tokenOf(iv),
    candToken: await tokenOf(cand),
    shotDir,
  })

  // 8c. Rubric rows, the mark-this-moment key, replay play / pause / next (checks-panel.mjs).
  await panelChecks({ iv, roomId, ivToken: await tokenOf(iv), dimensions: DIMENSIONS, notes: NOTES, shotDir })

  // 9. The diff view shows the candidate's change.
  await iv.click('[data-testid="mode-diff"]')
  await iv.waitForFunction(
    (t) => [...document.querySelectorAll('[data-testid="diff"] .cm-changedLine')].some((e) => e.textContent.includes(t)),
    TYPED,
  )
  pass('diff_shows_candidate_change')
  await iv.screenshot({ path: join(shotDir, 'diff.png') })

  // The same room at tablet width: the tree collapses above the editor.
  await obs.setViewportSize({ width: 800, height: 1000 })
  await obs.screenshot({ path: join(shotDir, 'tablet.png') })
  await obs.setViewportSize({ width: 1280, height: 720 })
  await prefsChecks(obs, shotDir)

  // 10. Nothing private reached the candidate: page, HTTP bodies, WebSocket frames.
  const denied = await api('GET', `/api/v1/rooms/${roomId}/private`, null, await tokenOf(cand))
  expect('private_endpoint_refuses_candidate', denied.status === 403, `${denied.status}`)
  await Promise.allSettled(reads)
  expect('candidate_api_bodies_read', unread.length === 0, unread.join(', '))
  const html = await cand.content()
  const markers = [NOTES, ...DIMENSIONS, LIVE_DIMENSION, INTEGRITY_MARKER, FLAG_DETAIL]
  const leaks = []
  for (const m of markers) {
    if (html.includes(m)) leaks.push(`${m} in page HTML`)
    for (const s of seen) if (s.body.includes(m)) leaks.push(`${m} in ${s.url}`)
  }
  expect('candidate_sees_no_private_data', leaks.length === 0 && seen.length > 0, leaks.join('; '))

  // 11. A broken link gets a clear page, not a blank one.
  const bad = await newPage('bad-link')
  await bad.goto(`${base}/room/${roomId}#token=not-a-real-token`)
  const badText = await bad.locator('[data-testid="link-error"]').innerText()
  expect('invalid_link_error_page', /expired or is not valid/.test(badText), badText)

  // 12. End the room: everyone sees it ended, and the link stays dead.
  iv.on('dialog', (d) => d.accept())
  await iv.click('[data-testid="end-room"]')
  const endedText = await cand.locator('[data-testid="ended"]').innerText()
  expect('candidate_sees_ended', endedText.includes('This interview has ended'), endedText)
  await obs.waitForSelector('[data-testid="ended"]')
  pass('observer_sees_ended')
  await cand.goto(candidateLink)
  const reloaded = await cand.locator('[data-testid="ended"]').innerText()
  expect('ended_after_reload', reloaded.includes('This interview has ended'), reloaded)

  // 13. Another room: keyboard-only navigation of the file tree, and a ~2 MiB file.
  await fileChecks(shotDir)

  // 14. The server's Content-Security-Policy let every page above work: no violation anywhere.
  expect('no_csp_violations', cspViolations.length === 0, cspViolations.join('; '))
}

await runAndReport(run, GLOBAL_TIMEOUT_MS)
