// The live session record as the interviewer reads it: timeline entries, replay positions, authorship
// ranges for the editor, and live rubric scores. Pure, so it is unit-tested.

import { formatClock, trimNumber } from './format'
import type { Authored, LiveEdit, LiveScore, Moment, PresenceEvent, Timeline } from './types'

/** Consecutive edits by one author in one file, this close together, show as one entry. */
export const MERGE_GAP_MS = 2000
/** Longest snippet of inserted or deleted text shown in an entry. */
export const SNIPPET_CHARS = 40
/** At most this many entries are listed (the newest are kept). */
export const MAX_ENTRIES = 500

/** A moment of the live session relative to its start: 0:00, 1:05, 1:02:03 (never negative). */
export function relativeClock(atMs: number, startedAtMs: number): string {
  return formatClock(Math.max(0, atMs - startedAtMs))
}

/**
 * Text shortened for one line: line breaks shown as ⏎, tabs as →, runs of spaces kept, at most `max`
 * characters (an ellipsis marks a cut). Never splits a surrogate pair.
 */
export function shortSnippet(text: string, max = SNIPPET_CHARS): string {
  const oneLine = text.replace(/\r\n|\r|\n/g, '⏎').replace(/\t/g, '→')
  const chars = Array.from(oneLine)
  if (chars.length <= max) return oneLine
  return `${chars.slice(0, Math.max(0, max - 1)).join('')}…`
}

export type EntryKind = 'edit' | 'join' | 'leave'

export interface SessionEntry {
  kind: EntryKind
  /** Milliseconds after the room opened, of the first and the last change of the entry. */
  at_ms: number
  until_ms: number
  /** Absolute server time of the last change (for citing it). */
  abs_ms: number
  /** `seq` of the last edit of the entry (edits only). */
  seq?: number
  author: string
  /** `submission` / `candidate` / `interviewer` for edits, the role for joins and leaves. */
  who: string
  file?: string
  inserted: string
  deleted: string
  /** How many edits this entry stands for (1 for joins and leaves). */
  count: number
}

function mergeable(last: SessionEntry | undefined, e: LiveEdit, rel: number): last is SessionEntry {
  return (
    last !== undefined &&
    last.kind === 'edit' &&
    last.author === e.author &&
    last.who === e.source &&
    last.file === e.file &&
    rel - last.until_ms <= MERGE_GAP_MS
  )
}

/**
 * The timeline as listed: edits and joins/leaves in time order (edits before presence at the same
 * moment), runs of one author's typing in one file merged, at most `max` entries (the newest).
 */
export function sessionEntries(t: Timeline, max = MAX_ENTRIES): { entries: SessionEntry[]; hidden: number } {
  const start = t.started_at_ms
  type Item = { at: number; order: number; edit?: LiveEdit; presence?: PresenceEvent }
  const items: Item[] = [
    ...t.edits.map((edit, i) => ({ at: edit.at_ms, order: i, edit })),
    ...t.presence.map((presence, i) => ({ at: presence.at_ms, order: t.edits.length + i, presence })),
  ]
  items.sort((a, b) => a.at - b.at || a.order - b.order)
  const entries: SessionEntry[] = []
  for (const item of items) {
    const rel = Math.max(0, item.at - start)
    if (item.edit) {
      const e = item.edit
      const last = entries[entries.length - 1]
      if (mergeable(last, e, rel)) {
        last.until_ms = rel
        last.abs_ms = e.at_ms
        last.seq = e.seq
        last.inserted += e.inserted
        last.deleted += e.deleted
        last.count += 1
        continue
      }
      entries.push({
        kind: 'edit',
        at_ms: rel,
        until_ms: rel,
        abs_ms: e.at_ms,
        seq: e.seq,
        author: e.author,
        who: e.source,
        file: e.file,
        inserted: e.inserted,
        deleted: e.deleted,
        count: 1,
      })
    } else if (item.presence) {
      const p = item.presence
      entries.push({
        kind: p.kind === 'leave' ? 'leave' : 'join',
        at_ms: rel,
        until_ms: rel,
        abs_ms: p.at_ms,
        author: p.name,
        who: p.role,
        inserted: '',
        deleted: '',
        count: 1,
      })
    }
  }
  if (entries.length <= max) return { entries, hidden: 0 }
  return { entries: entries.slice(entries.length - max), hidden: entries.length - max }
}

/** What an entry did, in a few words: `typed “x = 1”`, `deleted “foo”`, `replaced “a” with “b”`, `joined`. */
export function entryText(e: SessionEntry): string {
  if (e.kind === 'join') return `joined (${e.who})`
  if (e.kind === 'leave') return `left (${e.who})`
  const ins = e.inserted
  const del = e.deleted
  const q = (s: string) => `“${shortSnippet(s)}”`
  if (ins && del) return `replaced ${q(del)} with ${q(ins)}`
  if (ins) return `typed ${q(ins)}`
  if (del) return `deleted ${q(del)}`
  return 'edited'
}

/** The slider's range: from the start to now, and never short of the last recorded moment. */
export function sliderMax(t: Pick<Timeline, 'started_at_ms' | 'edits' | 'presence'>, nowMs: number): number {
  let last = 0
  for (const e of t.edits) last = Math.max(last, e.at_ms - t.started_at_ms)
  for (const p of t.presence) last = Math.max(last, p.at_ms - t.started_at_ms)
  return Math.max(0, Math.round(nowMs - t.started_at_ms), last)
}

export type AuthorSource = 'submission' | 'candidate' | 'interviewer'

export interface AuthorRange {
  from: number
  to: number
  source: AuthorSource
  author: string
}

function asSource(s: string): AuthorSource {
  return s === 'candidate' || s === 'interviewer' ? s : 'submission'
}

/**
 * Decoration ranges for a document of `docLength` UTF-16 units from the export's authorship ranges
 * (UTF-16 offsets too, as CodeMirror's positions are): sorted, clamped to the document, empty and
 * overlapping parts dropped, adjacent ranges of one author merged.
 */
export function authorshipRanges(authorship: readonly Authored[], docLength: number): AuthorRange[] {
  const sorted = [...authorship].sort((a, b) => a.start - b.start || a.end - b.end)
  const out: AuthorRange[] = []
  let cursor = 0
  for (const a of sorted) {
    const from = Math.max(cursor, Math.min(docLength, Math.max(0, a.start)))
    const to = Math.min(docLength, Math.max(0, a.end))
    if (to <= from) continue
    const source = asSource(a.source)
    const last = out[out.length - 1]
    if (last && last.to === from && last.source === source && last.author === a.author) last.to = to
    else out.push({ from, to, source, author: a.author })
    cursor = to
  }
  return out
}

/** Moves a range's ends off the middle of a surrogate pair (an emoji is two UTF-16 units). */
export function snapToCodePoints(text: string, ranges: AuthorRange[]): AuthorRange[] {
  const isLow = (i: number) => i > 0 && i < text.length && (text.charCodeAt(i) & 0xfc00) === 0xdc00 && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800
  const out: AuthorRange[] = []
  for (const r of ranges) {
    const from = isLow(r.from) ? r.from - 1 : r.from
    const to = isLow(r.to) ? r.to + 1 : r.to
    const prev = out[out.length - 1]
    const start = prev ? Math.max(prev.to, from) : from
    if (to > start) out.push({ ...r, from: start, to })
  }
  return out
}

/** A score row as typed into the form (strings, straight from the inputs). */
export interface ScoreDraft {
  dimension: string
  score: string
  max: string
}

/** Checks a score row as the server will (non-empty dimension, 0 ≤ score ≤ max, max > 0). */
export function validateScore(d: ScoreDraft): { ok: true; dimension: string; score: number; max: number } | { ok: false; message: string } {
  const dimension = d.dimension.trim()
  if (dimension === '') return { ok: false, message: 'Name the dimension.' }
  if (d.score.trim() === '' || d.max.trim() === '') return { ok: false, message: 'Give a score and a maximum.' }
  const score = Number(d.score)
  const max = Number(d.max)
  if (!Number.isFinite(score) || !Number.isFinite(max)) return { ok: false, message: 'Score and maximum must be numbers.' }
  if (max <= 0) return { ok: false, message: 'The maximum must be more than 0.' }
  if (score < 0 || score > max) return { ok: false, message: `The score must be between 0 and ${trimNumber(max)}.` }
  return { ok: true, dimension, score, max }
}

/** The evidence of a score: the cited timeline entry (seq, time, file) and/or a note; none if both are empty. */
export function scoreEvidence(entry: SessionEntry | null, note: string): Moment[] {
  const text = note.trim()
  if (entry) {
    const m: Moment = { at_ms: entry.abs_ms, note: text || `${entryLabel(entry)}` }
    if (entry.seq !== undefined) m.seq = entry.seq
    if (entry.file) m.file = entry.file
    return [m]
  }
  return text ? [{ note: text }] : []
}

/** "0:42 · Ada in lru.py: typed “x”" — how an entry is named in a picker or a citation. */
export function entryLabel(e: SessionEntry): string {
  const where = e.file ? ` in ${e.file}` : ''
  return `${formatClock(e.until_ms)} · ${e.author}${where}: ${entryText(e)}`
}

/** How a saved score's citation reads: "0:42 (edit #17) in lru.py — note". */
export function momentText(m: Moment, startedAtMs: number | null): string {
  const parts: string[] = []
  if (m.at_ms !== undefined && startedAtMs !== null) parts.push(relativeClock(m.at_ms, startedAtMs))
  if (m.seq !== undefined) parts.push(`(edit #${m.seq})`)
  if (m.async_at_ms !== undefined) parts.push(`async ${formatClock(m.async_at_ms)}`)
  if (m.file) parts.push(`in ${m.file}${m.lines ? `:${m.lines[0]}–${m.lines[1]}` : ''}`)
  const head = parts.join(' ')
  return head && m.note ? `${head} — ${m.note}` : head || m.note
}

export function scoreLine(s: LiveScore): string {
  return `${s.dimension}: ${trimNumber(s.score)} / ${trimNumber(s.max)}`
}
