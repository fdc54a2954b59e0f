// Text for integrity summaries, scorecards and the async timeline. Pure, so it is unit-tested.

import type { AsyncEvent, Flag, IntegritySummary, RubricItem, Scorecard } from './types'

/** Mirrors `LARGE_PASTE_CHARS` in protocol/src/integrity.rs: shorter pastes are not flagged. */
export const LARGE_PASTE_CHARS = 200

/** A moment of the async session as a clock: 0:04, 12:30, 1:02:03. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  const ss = String(s).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`
}

/** A length of time for people: 850 ms, 4.2 s, 1 min 5 s, 2 h 3 min. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 10_000) return `${trimNumber(Math.round(ms / 100) / 10)} s`
  const totalS = Math.round(ms / 1000)
  if (totalS < 60) return `${totalS} s`
  const totalMin = Math.floor(totalS / 60)
  if (totalMin < 60) {
    const s = totalS % 60
    return s === 0 ? `${totalMin} min` : `${totalMin} min ${s} s`
  }
  const h = Math.floor(totalMin / 60)
  const m = totalMin % 60
  return m === 0 ? `${h} h` : `${h} h ${m} min`
}

/** Local date and time, "2025-11-22 13:48". */
export function formatDateTime(ms: number): string {
  const d = new Date(ms)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`
}

/** 3 → "3", 3.5 → "3.5", 3.333… → "3.33". */
export function trimNumber(n: number): string {
  return String(Math.round(n * 100) / 100)
}

export function linesLabel(lines: readonly [number, number] | undefined): string {
  if (!lines) return ''
  const [a, b] = lines
  return a === b ? `L${a}` : `L${a}–${b}`
}

/** "lru.py:L3–7", "lru.py", or "" when nothing says where. */
export function locationLabel(file: string | undefined, lines?: readonly [number, number]): string {
  if (!file) return ''
  const l = linesLabel(lines)
  return l ? `${file}:${l}` : file
}

export function scoreText(score: number, max: number): string {
  if (max <= 0) return `${trimNumber(score)}`
  return `${trimNumber(score)} / ${trimNumber(max)} (${Math.round((score / max) * 100)}%)`
}

export function scorecardTotal(card: Scorecard): { score: number; max: number } {
  let score = 0
  let max = 0
  for (const item of card.rubric) {
    score += item.score
    max += item.max
  }
  return { score, max }
}

/** 0..1 share of a rubric line, for the bar. */
export function scoreRatio(item: Pick<RubricItem, 'score' | 'max'>): number {
  if (item.max <= 0) return 0
  return Math.min(1, Math.max(0, item.score / item.max))
}

export function flagKindLabel(kind: string): string {
  switch (kind) {
    case 'paste':
      return 'Large paste'
    case 'focus_lost':
      return 'Left the exercise'
    case 'burst':
      return 'Typing burst'
    case 'insertion':
      return 'Inserted at once'
    default:
      return kind.replace(/_/g, ' ')
  }
}

export function flagCountLabel(n: number): string {
  return n === 0 ? 'none' : n === 1 ? '1 flag' : `${n} flags`
}

/** What a signal the stream holds no events for reads: silence is not an observation. */
export const NO_EVENTS = 'no events recorded'

/** The summary's headline numbers as label/value rows. */
export function integrityStats(s: IntegritySummary): Array<[string, string]> {
  const noKeys = s.key_events === 0
  const pastes = noKeys
    ? NO_EVENTS
    : s.pastes.count === 0
      ? `none ≥ ${LARGE_PASTE_CHARS} chars (${s.pastes.total_chars} chars pasted in all)`
      : `${s.pastes.count} (largest ${s.pastes.largest} chars, ${s.pastes.total_chars} in all)`
  const focus =
    s.focus_events === 0
      ? NO_EVENTS
      : s.focus.losses === 0
      ? 'never left'
      : `${s.focus.losses}× away, ${formatDuration(s.focus.away_ms)} in all (longest ${formatDuration(s.focus.longest_away_ms)})`
  return [
    ['Large pastes', pastes],
    ['Focus', focus],
    ['First keystroke', noKeys ? NO_EVENTS : s.first_keystroke_ms === null ? 'never typed' : `at ${formatClock(s.first_keystroke_ms)}`],
    ['Typing bursts', noKeys ? NO_EVENTS : String(s.bursts)],
  ]
}

export function flagSentence(f: Flag): string {
  return `${formatClock(f.at_ms)} · ${flagKindLabel(f.kind)}: ${f.detail}`
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null
}

/** One line describing an async event, from the fields the platform sent. */
export function describeEvent(e: AsyncEvent): string {
  const where = e.file ? ` in ${e.file}` : ''
  switch (e.kind) {
    case 'paste': {
      const len = num(e.length) ?? str(e.text)?.length ?? null
      return `pasted ${len === null ? 'text' : `${len} chars`}${where}`
    }
    case 'edit': {
      const ins = str(e.insert)
      const del = num(e.delete)
      const parts: string[] = []
      if (ins) parts.push(`typed ${ins.length} char${ins.length === 1 ? '' : 's'}`)
      if (del) parts.push(`deleted ${del}`)
      return `${parts.length ? parts.join(', ') : 'edited'}${where}`
    }
    case 'focus_lost':
      return 'left the exercise'
    case 'focus_gained':
      return 'came back'
    case 'run': {
      const code = num(e.exit_code)
      const passed = num(e.passed)
      const failed = num(e.failed)
      if (passed !== null || failed !== null) return `ran the tests: ${passed ?? 0} passed, ${failed ?? 0} failed`
      return code === null ? 'ran the code' : `ran the code (exit ${code})`
    }
    case 'prompt': {
      const text = str(e.text) ?? str(e.prompt)
      return text ? `prompt: ${truncate(text, 120)}` : 'prompt'
    }
    default:
      return `${e.kind.replace(/_/g, ' ')}${where}`
  }
}

export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`
}

export interface TimelineEntry {
  at_ms: number
  /** Last merged event's time, when several were merged. */
  until_ms?: number
  kind: string
  file?: string
  lines?: [number, number]
  text: string
  /** How many events this entry stands for. */
  count: number
}

function eventLines(e: AsyncEvent): [number, number] | undefined {
  const l = e.lines
  if (Array.isArray(l) && l.length >= 2 && typeof l[0] === 'number' && typeof l[1] === 'number') return [l[0], l[1]]
  return undefined
}

/**
 * The timeline as shown: runs of keystrokes in one file merge into one entry (a session has thousands),
 * and the list is capped so a huge stream cannot freeze the page.
 */
export function compactTimeline(events: readonly AsyncEvent[], max = 400): { entries: TimelineEntry[]; hidden: number } {
  const entries: TimelineEntry[] = []
  for (const e of events) {
    const last = entries[entries.length - 1]
    if (e.kind === 'edit' && last && last.kind === 'edit' && last.file === e.file) {
      last.count += 1
      last.until_ms = e.at_ms
      last.text = `${last.count} edits${e.file ? ` in ${e.file}` : ''}`
      continue
    }
    entries.push({ at_ms: e.at_ms, kind: e.kind, file: e.file, lines: eventLines(e), text: describeEvent(e), count: 1 })
  }
  if (entries.length <= max) return { entries, hidden: 0 }
  return { entries: entries.slice(0, max), hidden: entries.length - max }
}
