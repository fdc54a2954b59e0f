// The interviewer's panel in the call: the rubric's dimensions prefilled as rows scored with one click,
// the "mark this moment" key (Ctrl+Shift+M) adding a timestamped note from inside the editor, and the
// replay's play / pause, speeds and next-event controls.

import { join } from 'node:path'
import { api, editorText, expect, pass } from './lib.mjs'

/** Longer than two playback ticks (250 ms each): a paused replay must not move in this time. */
const PAUSE_WATCH_MS = 700

const sliderValue = (page) => page.evaluate(() => Number(document.querySelector('[data-testid="replay-slider"]').value))

/**
 * `iv`: the interviewer's page in the live room `roomId` (token `ivToken`), where the candidate has
 * typed; `dimensions`: the submission's rubric dimensions, in order; `notes`: the notes saved so far.
 */
export async function panelChecks({ iv, roomId, ivToken, dimensions, notes, shotDir }) {
  // 1. The Scores tab holds one row per rubric dimension; one click gives a score, saved at once.
  await iv.click('[data-testid="tab-scores"]')
  const rows = await iv.locator('[data-testid="rubric-row"]').evaluateAll((els) => els.map((e) => e.dataset.dimension))
  expect('rubric_rows_prefilled', dimensions.every((d, i) => rows[i] === d), JSON.stringify(rows))
  const row = iv.locator(`[data-testid="rubric-row"][data-dimension="${dimensions[0]}"]`)
  await row.locator('[data-testid="rubric-score"][data-score="3"]').click()
  await iv.waitForSelector(`[data-testid="rubric-row"][data-dimension="${dimensions[0]}"][data-score="3"]`)
  await iv.waitForSelector('[data-testid="scores-status"][data-state="saved"]')
  const priv = await api('GET', `/api/v1/rooms/${roomId}/private`, null, ivToken)
  const given = priv.json?.live_scores?.find((s) => s.dimension === dimensions[0])
  expect('rubric_one_click_score_saved', given?.score === 3 && given?.max === 4, JSON.stringify(priv.json?.live_scores))
  await iv.screenshot({ path: join(shotDir, 'scores.png') })

  // 2. Ctrl+Shift+M inside the editor adds "[m:ss · lru.py:N] " to the notes, not to the code.
  const codeBefore = await editorText(iv)
  await iv.click('[data-testid="editor"] .cm-content')
  await iv.keyboard.press('Control+Home')
  await iv.keyboard.press('ArrowDown')
  await iv.keyboard.press('ArrowDown')
  await iv.keyboard.press('Control+Shift+M')
  await iv.waitForSelector('[data-testid="tabpanel-notes"]:not([hidden])')
  await iv.waitForFunction(() => /\[\d+:\d\d · lru\.py:3\] $/.test(document.querySelector('[data-testid="notes"]').value))
  const focused = await iv.evaluate(() => document.activeElement?.dataset.testid ?? '')
  expect('mark_moment_key_adds_note', focused === 'notes' && (await editorText(iv)) === codeBefore, `focus ${focused}`)
  await iv.keyboard.type('asked about eviction order')
  await iv.waitForSelector('[data-testid="notes-status"][data-state="saved"]')
  const saved = await api('GET', `/api/v1/rooms/${roomId}/private`, null, ivToken)
  const text = saved.json?.notes ?? ''
  expect(
    'mark_moment_note_saved',
    text.startsWith(notes) && /\n\[\d+:\d\d · lru\.py:3\] asked about eviction order$/.test(text),
    JSON.stringify(text.slice(-80)),
  )

  // 3. The replay plays from the start, pauses where it is, and steps to the next event.
  await iv.click('[data-testid="tab-record"]')
  await iv.click('[data-testid="replay-speed-16"]')
  expect('replay_speed_choice', (await iv.getAttribute('[data-testid="replay-speed-16"]', 'aria-pressed')) === 'true')
  await iv.click('[data-testid="replay-play"]')
  await iv.waitForSelector('[data-testid="replay-play"][data-playing="true"]')
  await iv.waitForSelector('[data-testid="replay"]:not([hidden])')
  await iv.waitForFunction(() => Number(document.querySelector('[data-testid="replay"]').dataset.atMs) > 0)
  pass('replay_plays')
  await iv.screenshot({ path: join(shotDir, 'replay.png') })
  await iv.click('[data-testid="replay-play"]')
  await iv.waitForSelector('[data-testid="replay-play"][data-playing="false"]')
  const pausedAt = await sliderValue(iv)
  await iv.waitForTimeout(PAUSE_WATCH_MS)
  const stillAt = await sliderValue(iv)
  expect('replay_pauses', stillAt === pausedAt, `${pausedAt} → ${stillAt}`)

  // Next event from the start lands on the first entry's moment, and previous goes back before it.
  await iv.evaluate(() => {
    const s = document.querySelector('[data-testid="replay-slider"]')
    s.value = '0'
    s.dispatchEvent(new Event('input', { bubbles: true }))
  })
  const first = await iv.evaluate(() => Math.min(...[...document.querySelectorAll('[data-testid="session-entry"]')].map((e) => Number(e.dataset.atMs)).filter((t) => t > 0)))
  await iv.click('[data-testid="replay-next"]')
  await iv.waitForSelector(`[data-testid="replay"][data-at-ms="${first}"]`)
  expect('replay_next_event', (await sliderValue(iv)) === first, `slider ${await sliderValue(iv)}, first event ${first}`)
  await iv.click('[data-testid="replay-live"]')
  await iv.waitForSelector('[data-testid="replay"]', { state: 'hidden' })
}

/** The observer's display choices survive a reload: dark theme and a larger font, from localStorage. */
export async function prefsChecks(page, shotDir) {
  await page.click('[data-testid="theme-toggle"]')
  await page.click('[data-testid="font-larger"]')
  await page.reload()
  await page.waitForSelector('[data-testid="connection-status"][data-state="synced"]')
  const after = await page.evaluate(() => ({
    theme: document.documentElement.dataset.theme,
    size: getComputedStyle(document.querySelector('.cm-editor')).fontSize,
  }))
  expect('prefs_remembered', after.theme === 'dark' && after.size === '15px', JSON.stringify(after))
  await page.screenshot({ path: join(shotDir, 'dark.png') })
}
