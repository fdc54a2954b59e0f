// Live scoring against the rubric: one row per rubric dimension, one click per score, and the note the
// "mark this moment" key adds. Pure, so it is unit-tested.

import { formatClock, trimNumber } from './format'
import type { LiveScore, Scorecard } from './types'

/** Rubrics out of at most this many points get one button per point; larger ones a number field. */
export const MAX_SCORE_BUTTONS = 10
/** Live scores default to this maximum when the rubric gives none. */
export const DEFAULT_MAX = 4

export interface RubricRow {
  dimension: string
  max: number
  /** The live score given so far (null: not scored yet). */
  score: number | null
  /** The async scorecard's score for this dimension, shown for reference. */
  asyncScore: number | null
}

/**
 * One row per dimension of the submission's rubric (in its order, each once), then any dimension
 * scored live that the rubric lacks; each with the live score given so far.
 */
export function rubricRows(scorecard: Scorecard | null, live: readonly LiveScore[]): RubricRow[] {
  const rows: RubricRow[] = []
  const seen = new Set<string>()
  for (const item of scorecard?.rubric ?? []) {
    const dimension = item.dimension.trim()
    if (dimension === '' || seen.has(dimension)) continue
    seen.add(dimension)
    const given = live.find((s) => s.dimension === dimension)
    const max = given?.max ?? (item.max > 0 ? item.max : DEFAULT_MAX)
    rows.push({ dimension, max, score: given?.score ?? null, asyncScore: item.score })
  }
  for (const s of live) {
    if (seen.has(s.dimension)) continue
    seen.add(s.dimension)
    rows.push({ dimension: s.dimension, max: s.max, score: s.score, asyncScore: null })
  }
  return rows
}

/** The score buttons of a row out of `max`: 1…max for small whole maxima, else null (a number field). */
export function scoreChoices(max: number): number[] | null {
  if (!Number.isInteger(max) || max < 1 || max > MAX_SCORE_BUTTONS) return null
  return Array.from({ length: max }, (_, i) => i + 1)
}

/**
 * `scores` with `dimension` set to `score` out of `max`: the existing entry keeps its evidence and its
 * place; a new one goes last.
 */
export function setScore(scores: readonly LiveScore[], dimension: string, score: number, max: number): LiveScore[] {
  const i = scores.findIndex((s) => s.dimension === dimension)
  if (i < 0) return [...scores, { dimension, score, max, evidence: [] }]
  return scores.map((s, j) => (j === i ? { ...s, score, max } : s))
}

/** What the row says about the async score: "async 3 / 4". */
export function asyncScoreText(row: RubricRow): string {
  return row.asyncScore === null ? '' : `async ${trimNumber(row.asyncScore)} / ${trimNumber(row.max)}`
}

export interface MomentAt {
  /** Milliseconds since the room opened. */
  elapsedMs: number
  file: string | null
  /** 1-based line of the cursor in `file`. */
  line: number | null
}

/** The line "mark this moment" adds to the notes: "[12:30 · lru.py:19] ". */
export function momentNote(m: MomentAt): string {
  const where = m.file ? ` · ${m.file}${m.line !== null ? `:${m.line}` : ''}` : ''
  return `[${formatClock(Math.max(0, m.elapsedMs))}${where}] `
}

/** `notes` with a moment line appended on a line of its own; the caret goes at the end. */
export function appendMoment(notes: string, m: MomentAt): string {
  const sep = notes === '' || notes.endsWith('\n') ? '' : '\n'
  return `${notes}${sep}${momentNote(m)}`
}
