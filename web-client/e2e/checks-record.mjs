// The interviewer's session record in the room: the Session timeline lists the candidate's edit, the
// replay slider shows the submission at 0 and a past moment on a click, "Who wrote what" marks the
// candidate's text, and a live score saves (read back from GET /private). The candidate gets none of it.

import { join } from 'node:path'
import { api, editorText, expect, pass } from './lib.mjs'

/** A unique live-score dimension: the privacy check looks for it in everything the candidate received. */
export const LIVE_DIMENSION = 'Live-Probe-Dimension-Kx7'

/** What the candidate's page must not show. */
export const RECORD_TESTIDS = ['session', 'live-scoring', 'authorship-toggle', 'replay-slider']

/** Concatenated text of the live editor's marks of one source. */
const markedText = (page, source) =>
  page.evaluate(
    (s) => [...document.querySelectorAll(`[data-testid="editor"] .cm-author-${s}`)].map((e) => e.textContent).join(''),
    source,
  )

/**
 * `iv` and `cand`: the interviewer's and the candidate's pages in the live room `roomId`, after the
 * candidate typed `typed` (a line of their own) into `lru.py`, whose submitted content is `submitted`.
 * `ivToken` / `candToken` are their room tokens.
 */
export async function recordChecks({ iv, cand, roomId, candidateName, typed, submitted, ivToken, candToken, shotDir }) {
  const marker = typed.replace(/^#\s*/, '')

  // 1. The Record tab lists the candidate's edit, by name, with a snippet of what they typed.
  await iv.click('[data-testid="tab-record"]')
  const candEntry = iv.locator('[data-testid="session-entry"][data-kind="edit"][data-source="candidate"]', { hasText: marker }).first()
  await candEntry.waitFor()
  const entryText = await candEntry.innerText()
  expect('session_lists_candidate_edit', entryText.includes(candidateName) && entryText.includes('lru.py'), entryText)
  const joins = await iv.locator('[data-testid="session-entry"][data-kind="join"]', { hasText: candidateName }).count()
  expect('session_lists_candidate_join', joins >= 1, `${joins} joins`)

  // 2. The slider at 0 shows the submission, read-only in place of the editor.
  await iv.evaluate(() => {
    const s = document.querySelector('[data-testid="replay-slider"]')
    s.value = '0'
    s.dispatchEvent(new Event('input', { bubbles: true }))
  })
  await iv.waitForSelector('[data-testid="replay"]:not([hidden])[data-at-ms="0"]')
  await iv.waitForFunction((want) => window.__handoff?.replayView?.state.doc.toString() === want, submitted)
  const replayState = await iv.evaluate(() => ({
    editorHidden: document.querySelector('[data-testid="editor"]').hidden,
    readOnly: window.__handoff.replayView.state.readOnly,
    mode: window.__handoff.mode,
  }))
  expect('replay_at_zero_shows_submission', replayState.editorHidden && replayState.readOnly && replayState.mode === 'replay', JSON.stringify(replayState))

  // 3. Clicking the candidate's entry moves the slider there, and the replay then holds their line.
  await candEntry.click()
  const at = Number(await candEntry.getAttribute('data-at-ms'))
  await iv.waitForSelector(`[data-testid="replay"][data-at-ms="${at}"]`)
  await iv.waitForFunction((t) => window.__handoff?.replayView?.state.doc.toString().includes(t), typed)
  const slider = Number(await iv.locator('[data-testid="replay-slider"]').inputValue())
  // The range input rounds to its step (100 ms).
  expect('session_entry_moves_slider', Math.abs(slider - at) <= 100 && at > 0, `slider ${slider}, entry ${at}`)

  // 4. Back to live: the editor returns with the live text.
  await iv.click('[data-testid="replay-live"]')
  await iv.waitForSelector('[data-testid="replay"]', { state: 'hidden' })
  await iv.waitForSelector('[data-testid="editor"]:not([hidden])')
  const liveText = await editorText(iv)
  const time = await iv.locator('[data-testid="replay-time"]').innerText()
  const mode = await iv.evaluate(() => window.__handoff.mode)
  expect('replay_back_to_live', liveText.includes(typed) && mode === 'code' && time === 'Live', `mode ${mode}, time ${time}`)

  // 5. "Who wrote what" marks the candidate's line as theirs and the submitted code as the submission's.
  await iv.click('[data-testid="authorship-toggle"]')
  await iv.waitForSelector('[data-testid="authorship-legend"]:not([hidden])')
  await iv.waitForFunction((t) => [...document.querySelectorAll('[data-testid="editor"] .cm-author-candidate')].map((e) => e.textContent).join('').includes(t), marker)
  const [candMarked, subMarked] = [await markedText(iv, 'candidate'), await markedText(iv, 'submission')]
  expect(
    'authorship_marks_candidate_text',
    candMarked.includes(marker) && subMarked.includes('class LRUCache') && !subMarked.includes(marker) && !candMarked.includes('class LRUCache'),
    `candidate "${candMarked.slice(0, 80)}"`,
  )

  // 5b. With the toggle on, the marks follow the session: the candidate's next line is marked as theirs
  // without a click (the client refetches who wrote what a moment after edits pause).
  const LIVE_LINE = 'live-authorship-line-3b8'
  await cand.click('[data-testid="editor"] .cm-content')
  await cand.keyboard.press('Control+End')
  await cand.keyboard.type(`\n# ${LIVE_LINE}`)
  await iv.waitForFunction((t) => [...document.querySelectorAll('[data-testid="editor"] .cm-author-candidate')].map((e) => e.textContent).join('').includes(t), LIVE_LINE)
  const legend = await iv.locator('[data-testid="legend-person"]').evaluateAll((els) => els.map((e) => e.dataset.author))
  expect('authorship_follows_live_edits', legend.includes(candidateName), JSON.stringify(legend))

  // 6. A score out of range is refused in the form; a valid one, citing the candidate's edit, saves.
  await iv.click('[data-testid="tab-scores"]')
  await iv.click('[data-testid="score-more"]')
  await iv.fill('[data-testid="score-dimension"]', LIVE_DIMENSION)
  await iv.fill('[data-testid="score-value"]', '5')
  await iv.fill('[data-testid="score-max"]', '4')
  await iv.click('[data-testid="score-add"]')
  const refused = await iv.locator('[data-testid="score-error"]').innerText()
  expect('live_score_form_validates', /between 0 and 4/.test(refused) && (await iv.locator('[data-testid="live-score"]').count()) === 0, refused)
  await iv.fill('[data-testid="score-value"]', '3')
  const option = await iv.locator('[data-testid="score-cite"] option', { hasText: marker }).first().getAttribute('value')
  await iv.selectOption('[data-testid="score-cite"]', option)
  await iv.fill('[data-testid="score-note"]', 'explained the eviction fix')
  await iv.click('[data-testid="score-add"]')
  await iv.waitForSelector('[data-testid="scores-status"][data-state="saved"]')
  const priv = await api('GET', `/api/v1/rooms/${roomId}/private`, null, ivToken)
  const saved = priv.json?.live_scores?.find((s) => s.dimension === LIVE_DIMENSION)
  expect(
    'live_score_saved',
    priv.status === 200 && saved?.score === 3 && saved?.max === 4 && saved.evidence?.[0]?.seq === Number(option) && saved.evidence[0].file === 'lru.py',
    `${priv.status} ${JSON.stringify(priv.json?.live_scores)}`,
  )
  await iv.locator('[data-testid="live-scoring"]').scrollIntoViewIfNeeded()
  await iv.screenshot({ path: join(shotDir, 'record.png') })

  // A reload shows the saved score again (loaded from /private's live_scores).
  await iv.reload()
  await iv.click('[data-testid="tab-scores"]')
  await iv.waitForSelector(`[data-testid="live-score"][data-dimension="${LIVE_DIMENSION}"]`)
  pass('live_score_reloaded')
  await iv.waitForSelector('[data-testid="connection-status"][data-state="synced"]')

  // 7. The candidate gets none of it: no controls, and every record endpoint refuses their token.
  const controls = await cand.evaluate((ids) => ids.filter((id) => document.querySelector(`[data-testid="${id}"]`)), RECORD_TESTIDS)
  expect('candidate_has_no_record_controls', controls.length === 0, controls.join(', '))
  const refusedCalls = [
    await api('GET', `/api/v1/rooms/${roomId}/timeline`, null, candToken),
    await api('GET', `/api/v1/rooms/${roomId}/replay?at_ms=0`, null, candToken),
    await api('GET', `/api/v1/rooms/${roomId}/export`, null, candToken),
    await api('PUT', `/api/v1/rooms/${roomId}/scores`, { scores: [] }, candToken),
  ].map((r) => r.status)
  expect('record_endpoints_refuse_candidate', refusedCalls.every((s) => s === 403), refusedCalls.join(','))
}
