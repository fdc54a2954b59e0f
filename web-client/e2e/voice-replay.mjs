// The Session record's replay plays the candidate's voice recording aligned with an edit they made while
// speaking: the export lists the recording, clicking the edit's entry puts the recording at the edit's
// moment on the room clock, and Play runs the voice (the candidate's tone comes out of it) with the
// slider.

import { api, expect, pass } from './lib.mjs'

/** The recording's position may sit this far from the edit's moment (the slider's step is 1 ms; the
 * media element reports its position at its own granularity). */
const ALIGN_TOLERANCE_MS = 250
/** How long the recordings may take to appear in the export after the speaker left voice. */
const LIST_DEADLINE_MS = 20_000

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Where in `rec` the room-clock moment `atMs` is heard, as the export's anchors say. */
function offsetMs(rec, atMs) {
  const anchor = [...(rec.anchors ?? [])].reverse().find((a) => a.at_ms <= atMs)
  return anchor ? (anchor.sample * 1000) / 48_000 + (atMs - anchor.at_ms) : atMs - rec.started_at_ms
}

export async function replayChecks({ iv, roomId, ivToken, candidateName, tone, shotDir }) {
  // 1. The export lists the candidate's recordings once their voice closed (one per join: the rejoin
  // after the dropped socket started a second), and one of them holds the moment of their last edit.
  const timeline = await api('GET', `/api/v1/rooms/${roomId}/timeline`, null, ivToken)
  const edit = timeline.json.edits.filter((e) => e.source === 'candidate').at(-1)
  const deadline = Date.now() + LIST_DEADLINE_MS
  let exp = null
  let rec = null
  while (Date.now() < deadline && !rec) {
    exp = await api('GET', `/api/v1/rooms/${roomId}/export`, null, ivToken)
    const mine = (exp.json?.recordings ?? []).filter((r) => r.participant === candidateName && r.role === 'candidate')
    rec = mine.find((r) => offsetMs(r, edit.at_ms) > 0 && offsetMs(r, edit.at_ms) < r.duration_ms) ?? null
    if (!rec) await sleep(500)
  }
  const listed = JSON.stringify((exp?.json?.recordings ?? []).map(({ participant, started_at_ms, duration_ms }) => ({ participant, started_at_ms, duration_ms })))
  expect('export_lists_candidate_recording', rec !== null, `edit at ${edit?.at_ms}; ${listed}`)
  const editOffset = offsetMs(rec, edit.at_ms)
  expect('edit_inside_recording', editOffset > 1000, `edit at ${editOffset} ms of ${rec.duration_ms}`)

  // 2. The Record tab's entry for the edit puts the recording at the edit's moment.
  await iv.click('[data-testid="tab-record"]')
  await iv.click('[data-testid="session-refresh"]')
  const entry = iv.locator('[data-testid="session-entry"][data-kind="edit"][data-source="candidate"]').last()
  await entry.waitFor()
  const audioSel = `[data-testid="replay-audio"][data-recording="${rec.id}"]`
  await iv.waitForSelector(audioSel, { state: 'attached' })
  await iv.waitForFunction((sel) => document.querySelector(sel).readyState >= 1, audioSel)
  await entry.click()
  const untilMs = Number(await entry.getAttribute('data-at-ms'))
  const want = offsetMs(rec, timeline.json.started_at_ms + untilMs)
  await iv.waitForFunction(
    ({ sel, want, tol }) => Math.abs(document.querySelector(sel).currentTime * 1000 - want) <= tol,
    { sel: audioSel, want, tol: ALIGN_TOLERANCE_MS },
  )
  const at = await iv.evaluate((sel) => document.querySelector(sel).currentTime * 1000, audioSel)
  expect('replay_seeks_recording_to_edit', Math.abs(at - want) <= ALIGN_TOLERANCE_MS && Math.abs(want - editOffset) < 2000, `audio at ${at} ms, want ${want} ms (edit ${editOffset} ms)`)

  // 3. Play runs the voice with the slider: the audio plays on from there, and it is the candidate's tone.
  await iv.click('[data-testid="replay-play"]')
  await iv.waitForFunction((sel) => !document.querySelector(sel).paused, audioSel)
  const hz = await iv.evaluate(
    async ({ sel, tone }) => {
      const a = document.querySelector(sel)
      const ctx = new AudioContext()
      const analyser = ctx.createAnalyser()
      analyser.fftSize = 8192
      ctx.createMediaStreamSource(a.captureStream()).connect(analyser)
      const bins = new Float32Array(analyser.frequencyBinCount)
      const end = Date.now() + 10_000
      let best = 0
      while (Date.now() < end) {
        await new Promise((r) => setTimeout(r, 200))
        analyser.getFloatFrequencyData(bins)
        best = 1
        for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i
        const found = (best * ctx.sampleRate) / analyser.fftSize
        if (bins[best] > -90 && Math.abs(found - tone) < 30) break
      }
      const found = Math.round((best * ctx.sampleRate) / analyser.fftSize)
      await ctx.close()
      return found
    },
    { sel: audioSel, tone },
  )
  const moved = await iv.evaluate((sel) => document.querySelector(sel).currentTime * 1000, audioSel)
  const slider = Number(await iv.locator('[data-testid="replay-slider"]').inputValue())
  expect('replay_plays_candidate_voice', Math.abs(hz - tone) < 30 && moved > at, `peak ${hz} Hz (want ${tone}), audio ${at} → ${moved} ms`)
  const inStep = offsetMs(rec, timeline.json.started_at_ms + slider)
  expect('replay_audio_in_step_with_slider', Math.abs(moved - inStep) < 1500, `audio ${moved} ms, slider says ${inStep} ms`)
  await iv.click('[data-testid="replay-play"]')
  await iv.waitForFunction((sel) => document.querySelector(sel).paused, audioSel)
  pass('replay_pause_pauses_voice')
  await iv.screenshot({ path: `${shotDir}/voice-replay.png` })
}
