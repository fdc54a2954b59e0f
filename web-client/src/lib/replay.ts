// Replay controls as numbers: how far one step moves, where the next event is, how far playback goes
// per tick. Pure, so it is unit-tested.

/** Playback speeds offered (1× is real time). */
export const PLAY_SPEEDS = [1, 4, 16] as const
export type PlaySpeed = (typeof PLAY_SPEEDS)[number]
/** A session of any length is crossed in about this many arrow-key steps. */
export const STEPS_PER_SESSION = 200
/** No step is finer than this (a keystroke apart). */
export const MIN_STEP_MS = 100
/** Step sizes snap to these, so the slider's positions read as round times. */
const NICE_STEPS_MS = [100, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000]

/** One arrow-key step over a session of `durationMs`: about 1/200 of it, rounded to a nice value. */
export function replayStep(durationMs: number): number {
  const raw = Math.max(MIN_STEP_MS, durationMs / STEPS_PER_SESSION)
  for (const s of NICE_STEPS_MS) if (s >= raw) return s
  return NICE_STEPS_MS[NICE_STEPS_MS.length - 1]
}

/**
 * The first event time strictly after `atMs` (`dir` 1) or strictly before it (`dir` -1), or null when
 * there is none. `times` need not be sorted.
 */
export function adjacentEvent(times: readonly number[], atMs: number, dir: 1 | -1): number | null {
  let best: number | null = null
  for (const t of times) {
    if (dir === 1 ? t > atMs && (best === null || t < best) : t < atMs && (best === null || t > best)) best = t
  }
  return best
}

/** Where playback is after `elapsedMs` of real time at `speed`, stopping at `maxMs`. */
export function playbackPosition(fromMs: number, elapsedMs: number, speed: number, maxMs: number): number {
  return Math.min(maxMs, Math.max(0, fromMs + elapsedMs * speed))
}

/** While playing, a recording more than this far from where the slider says it should be is re-seeked. */
export const AUDIO_DRIFT_MS = 300

/** Samples per second of every Opus recording's positions (anchors count in these). */
export const OPUS_SAMPLE_RATE = 48_000

/**
 * Where in a recording the room-clock moment `atMs` (ms since the Unix epoch) is heard, in ms from its
 * first sample: the latest anchor at or before it plus the time since (protocol's `offset_ms`); before the
 * first anchor, or without anchors, counted from `started_at_ms` (negative: before the file).
 */
export function recordingOffsetMs(rec: { started_at_ms: number; anchors?: Array<{ at_ms: number; sample: number }> }, atMs: number): number {
  let anchor: { at_ms: number; sample: number } | null = null
  for (const a of rec.anchors ?? []) if (a.at_ms <= atMs && (anchor === null || a.at_ms >= anchor.at_ms)) anchor = a
  if (anchor === null) return atMs - rec.started_at_ms
  return (anchor.sample * 1000) / OPUS_SAMPLE_RATE + (atMs - anchor.at_ms)
}

/**
 * Whether the room-clock moment `atMs` falls in a gap the file skipped (a mute, a long silence): the
 * file position counted from the anchor before it already reaches the next anchor's position.
 */
export function inRecordingGap(rec: { anchors?: Array<{ at_ms: number; sample: number }> }, atMs: number): boolean {
  let next: { at_ms: number; sample: number } | null = null
  for (const a of rec.anchors ?? []) if (a.at_ms > atMs && (next === null || a.at_ms < next.at_ms)) next = a
  if (next === null) return false
  return recordingOffsetMs({ started_at_ms: 0, ...rec }, atMs) >= (next.sample * 1000) / OPUS_SAMPLE_RATE
}

/** What a recording's <audio> does at a replay moment. */
export interface AudioStep {
  /** Seek to this many seconds into the file (absent: leave where it is). */
  seekS?: number
  play: boolean
}

/**
 * Where a recording is at the replay moment `atMs` (ms since the room opened at `roomStartMs`, both on
 * the room clock), and whether it sounds: inside the file it plays while the replay plays; before its
 * start or after its end it is silent (paused at its nearest edge, ready to start in step).
 */
export function audioStep(
  rec: { started_at_ms: number; duration_ms: number; anchors?: Array<{ at_ms: number; sample: number }> },
  roomStartMs: number,
  atMs: number,
  playing: boolean,
  audio: { currentTimeS: number; paused: boolean },
): AudioStep {
  const intoMs = recordingOffsetMs(rec, roomStartMs + atMs)
  const inside = intoMs >= 0 && intoMs < rec.duration_ms && !inRecordingGap(rec, roomStartMs + atMs)
  const wantS = Math.min(Math.max(0, intoMs), rec.duration_ms) / 1000
  if (!playing || !inside) return audio.currentTimeS === wantS && audio.paused ? { play: false } : { seekS: wantS, play: false }
  // Already sounding close to the right place: leave it alone, a seek would click.
  const drift = Math.abs(audio.currentTimeS - wantS) * 1000
  if (!audio.paused && drift <= AUDIO_DRIFT_MS) return { play: true }
  return { seekS: wantS, play: true }
}
