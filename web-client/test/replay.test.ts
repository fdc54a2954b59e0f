import { describe, expect, it } from 'vitest'
import { AUDIO_DRIFT_MS, inRecordingGap, recordingOffsetMs, MIN_STEP_MS, STEPS_PER_SESSION, adjacentEvent, audioStep, playbackPosition, replayStep } from '../src/lib/replay'

describe('replayStep', () => {
  it('never goes below the minimum for short sessions', () => {
    expect(replayStep(0)).toBe(MIN_STEP_MS)
    expect(replayStep(20_000)).toBe(MIN_STEP_MS)
  })
  it('scales with the session: an hour is crossed in about 200 steps, not 36,000', () => {
    const hour = 3_600_000
    const step = replayStep(hour)
    expect(step).toBe(30_000)
    expect(hour / step).toBeLessThanOrEqual(STEPS_PER_SESSION)
    expect(hour / step).toBeGreaterThanOrEqual(STEPS_PER_SESSION / 3)
  })
  it('grows monotonically with the length', () => {
    let last = 0
    for (const d of [1e3, 3e4, 6e4, 3e5, 9e5, 1.8e6, 3.6e6, 7.2e6]) {
      const s = replayStep(d)
      expect(s).toBeGreaterThanOrEqual(last)
      last = s
    }
  })
})

describe('adjacentEvent', () => {
  const times = [5000, 1000, 3000, 3000]
  it('finds the next and previous event, strictly', () => {
    expect(adjacentEvent(times, 0, 1)).toBe(1000)
    expect(adjacentEvent(times, 1000, 1)).toBe(3000)
    expect(adjacentEvent(times, 3000, -1)).toBe(1000)
    expect(adjacentEvent(times, 4000, -1)).toBe(3000)
  })
  it('returns null past the ends', () => {
    expect(adjacentEvent(times, 5000, 1)).toBeNull()
    expect(adjacentEvent(times, 1000, -1)).toBeNull()
    expect(adjacentEvent([], 0, 1)).toBeNull()
  })
})

describe('playbackPosition', () => {
  it('moves speed × real time and stops at the end', () => {
    expect(playbackPosition(1000, 250, 1, 10_000)).toBe(1250)
    expect(playbackPosition(1000, 250, 16, 10_000)).toBe(5000)
    expect(playbackPosition(9000, 1000, 4, 10_000)).toBe(10_000)
  })
})

describe('a recording in the replay', () => {
  const rec = { started_at_ms: 10_000, duration_ms: 5000 }
  const roomStart = 8000
  const paused = { currentTimeS: 0, paused: true }

  it('sits where the room clock puts it when the slider moves', () => {
    // 3 s into the room is 1 s into a recording that began 2 s after the room opened.
    expect(audioStep(rec, roomStart, 3000, false, paused)).toEqual({ seekS: 1, play: false })
    // Before it began, and after it ended: silent at its edges.
    expect(audioStep(rec, roomStart, 500, false, paused)).toEqual({ play: false })
    expect(audioStep(rec, roomStart, 60_000, true, paused)).toEqual({ seekS: 5, play: false })
  })
  it('plays in step while the replay plays, and is left alone while it keeps up', () => {
    expect(audioStep(rec, roomStart, 4000, true, paused)).toEqual({ seekS: 2, play: true })
    expect(audioStep(rec, roomStart, 4000, true, { currentTimeS: 2 - AUDIO_DRIFT_MS / 2000, paused: false })).toEqual({ play: true })
    expect(audioStep(rec, roomStart, 4000, true, { currentTimeS: 0.5, paused: false })).toEqual({ seekS: 2, play: true })
  })
  it('follows the anchors across a gap the file skipped', () => {
    const anchors = [
      { at_ms: 10_000, sample: 0 },
      // 2 s muted at 13 s: the room clock ran on, the file resumed 3 s in at 15 s.
      { at_ms: 15_000, sample: 3 * 48_000 },
    ]
    const withGap = { ...rec, anchors }
    expect(recordingOffsetMs(withGap, 9_000)).toBe(-1000)
    expect(recordingOffsetMs(withGap, 12_500)).toBe(2500)
    expect(recordingOffsetMs(withGap, 16_000)).toBe(4000)
    // 8 s into the room is 16 s on the clock: 4 s into the file.
    expect(audioStep(withGap, roomStart, 8000, false, paused)).toEqual({ seekS: 4, play: false })
    // In the gap (13–15 s on the clock) the file is silent rather than playing what came after.
    expect(inRecordingGap(withGap, 12_900)).toBe(false)
    expect(inRecordingGap(withGap, 13_500)).toBe(true)
    expect(inRecordingGap(withGap, 15_000)).toBe(false)
    expect(audioStep(withGap, roomStart, 5500, true, { currentTimeS: 3.5, paused: false }).play).toBe(false)
  })
})
