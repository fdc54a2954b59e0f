import { describe, expect, it } from 'vitest'
import {
  authorshipRanges,
  entryLabel,
  entryText,
  momentText,
  relativeClock,
  scoreEvidence,
  scoreLine,
  sessionEntries,
  shortSnippet,
  sliderMax,
  snapToCodePoints,
  validateScore,
} from '../src/lib/record'
import type { Authored, LiveEdit, Timeline } from '../src/lib/types'

const START = 1_700_000_000_000

function edit(seq: number, at: number, over: Partial<LiveEdit> = {}): LiveEdit {
  return { seq, at_ms: START + at, author: 'Ada', source: 'candidate', file: 'lru.py', position: 0, inserted: 'x', deleted: '', ...over }
}

function timeline(edits: LiveEdit[], presence: Timeline['presence'] = []): Timeline {
  return { room: { id: 'room_1', status: 'live' }, started_at_ms: START, edits, presence }
}

describe('relativeClock', () => {
  it('counts from the start and never goes negative', () => {
    expect(relativeClock(START, START)).toBe('0:00')
    expect(relativeClock(START + 65_400, START)).toBe('1:05')
    expect(relativeClock(START + 3_723_000, START)).toBe('1:02:03')
    expect(relativeClock(START - 5_000, START)).toBe('0:00')
  })
})

describe('shortSnippet', () => {
  it('keeps short text and shows line breaks and tabs', () => {
    expect(shortSnippet('abc')).toBe('abc')
    expect(shortSnippet('a\nb\r\nc\td')).toBe('a⏎b⏎c→d')
  })

  it('cuts long text with an ellipsis, at most max characters', () => {
    const s = shortSnippet('x'.repeat(100), 10)
    expect(s).toBe(`${'x'.repeat(9)}…`)
    expect(Array.from(s).length).toBe(10)
  })

  it('never splits an emoji', () => {
    const s = shortSnippet('😀😀😀😀', 3)
    expect(s).toBe('😀😀…')
    expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(s)).toBe(false)
  })
})

describe('sessionEntries', () => {
  it('merges one author typing in one file, and splits on a pause, another file or another author', () => {
    const t = timeline([
      edit(1, 1000, { inserted: '#' }),
      edit(2, 1200, { inserted: ' hi' }),
      edit(3, 5000, { inserted: '!' }),
      edit(4, 5100, { inserted: 'y', file: 'b.py' }),
      edit(5, 5200, { inserted: 'z', file: 'b.py', author: 'Grace', source: 'interviewer' }),
    ])
    const { entries, hidden } = sessionEntries(t)
    expect(hidden).toBe(0)
    expect(entries.map((e) => [e.at_ms, e.until_ms, e.seq, e.inserted, e.count])).toEqual([
      [1000, 1200, 2, '# hi', 2],
      [5000, 5000, 3, '!', 1],
      [5100, 5100, 4, 'y', 1],
      [5200, 5200, 5, 'z', 1],
    ])
    expect(entries[3]?.who).toBe('interviewer')
    expect(entries[0]?.abs_ms).toBe(START + 1200)
  })

  it('interleaves joins and leaves in time order and keeps the newest when capped', () => {
    const t = timeline([edit(1, 2000), edit(2, 9000)], [
      { at_ms: START + 500, kind: 'join', name: 'Ada', role: 'candidate', conn_id: 1 },
      { at_ms: START + 8000, kind: 'leave', name: 'Ada', role: 'candidate', conn_id: 1 },
    ])
    const all = sessionEntries(t).entries
    expect(all.map((e) => e.kind)).toEqual(['join', 'edit', 'leave', 'edit'])
    expect(entryText(all[0]!)).toBe('joined (candidate)')
    expect(entryText(all[2]!)).toBe('left (candidate)')
    const capped = sessionEntries(t, 2)
    expect(capped.hidden).toBe(2)
    expect(capped.entries.map((e) => e.kind)).toEqual(['leave', 'edit'])
  })

  it('describes inserts, deletes and replacements', () => {
    const [typed, deleted, replaced, empty] = sessionEntries(
      timeline([
        edit(1, 0, { inserted: 'a\nb' }),
        edit(2, 10_000, { inserted: '', deleted: 'old' }),
        edit(3, 20_000, { inserted: 'new', deleted: 'old' }),
        edit(4, 30_000, { inserted: '', deleted: '' }),
      ]),
    ).entries
    expect(entryText(typed!)).toBe('typed “a⏎b”')
    expect(entryText(deleted!)).toBe('deleted “old”')
    expect(entryText(replaced!)).toBe('replaced “old” with “new”')
    expect(entryText(empty!)).toBe('edited')
    expect(entryLabel(typed!)).toBe('0:00 · Ada in lru.py: typed “a⏎b”')
  })
})

describe('sliderMax', () => {
  it('runs to now, or to the last recorded moment when the clock is behind', () => {
    expect(sliderMax(timeline([edit(1, 4000)]), START + 10_000)).toBe(10_000)
    expect(sliderMax(timeline([edit(1, 4000)]), START + 1000)).toBe(4000)
    expect(sliderMax(timeline([]), START - 1000)).toBe(0)
  })
})

describe('authorshipRanges', () => {
  const a = (start: number, end: number, source: Authored['source'], author: string = source): Authored => ({ start, end, lines: [1, 1], source, author })

  it('sorts, merges adjacent runs of one author and clamps to the document', () => {
    const ranges = authorshipRanges([a(10, 15, 'candidate', 'Ada'), a(0, 5, 'submission'), a(5, 10, 'submission'), a(15, 99, 'interviewer', 'Grace')], 20)
    expect(ranges).toEqual([
      { from: 0, to: 10, source: 'submission', author: 'submission' },
      { from: 10, to: 15, source: 'candidate', author: 'Ada' },
      { from: 15, to: 20, source: 'interviewer', author: 'Grace' },
    ])
  })

  it('drops empty, out-of-range and overlapping parts, and unknown sources read as submission', () => {
    const ranges = authorshipRanges([a(3, 3, 'candidate'), a(30, 40, 'candidate'), a(0, 6, 'candidate', 'Ada'), a(4, 8, 'interviewer', 'G'), a(8, 9, 'bogus' as Authored['source'], 'x')], 10)
    expect(ranges).toEqual([
      { from: 0, to: 6, source: 'candidate', author: 'Ada' },
      { from: 6, to: 8, source: 'interviewer', author: 'G' },
      { from: 8, to: 9, source: 'submission', author: 'x' },
    ])
  })

  it('works in UTF-16 units and snaps off the middle of surrogate pairs', () => {
    const text = 'a😀b' // a=0, 😀=1..3, b=3
    expect(text.length).toBe(4)
    const ranges = authorshipRanges([a(0, 2, 'submission'), a(2, 4, 'candidate')], text.length)
    expect(snapToCodePoints(text, ranges)).toEqual([
      { from: 0, to: 3, source: 'submission', author: 'submission' },
      { from: 3, to: 4, source: 'candidate', author: 'candidate' },
    ])
  })
})

describe('validateScore', () => {
  it('accepts what the server accepts', () => {
    expect(validateScore({ dimension: ' Design ', score: '3', max: '4' })).toEqual({ ok: true, dimension: 'Design', score: 3, max: 4 })
    expect(validateScore({ dimension: 'x', score: '0', max: '0.5' }).ok).toBe(true)
    expect(validateScore({ dimension: 'x', score: '4', max: '4' }).ok).toBe(true)
  })

  it('refuses an empty dimension, missing numbers, max ≤ 0 and a score out of range', () => {
    const msg = (d: string, s: string, m: string) => {
      const r = validateScore({ dimension: d, score: s, max: m })
      return r.ok ? null : r.message
    }
    expect(msg('  ', '1', '4')).toBe('Name the dimension.')
    expect(msg('x', '', '4')).toBe('Give a score and a maximum.')
    expect(msg('x', 'abc', '4')).toBe('Score and maximum must be numbers.')
    expect(msg('x', '0', '0')).toBe('The maximum must be more than 0.')
    expect(msg('x', '5', '4')).toBe('The score must be between 0 and 4.')
    expect(msg('x', '-1', '4')).toBe('The score must be between 0 and 4.')
  })
})

describe('score evidence', () => {
  it('cites a timeline entry by seq, time and file, or keeps a note alone', () => {
    const [entry] = sessionEntries(timeline([edit(7, 42_000, { inserted: 'fix' })])).entries
    expect(scoreEvidence(entry!, ' good fix ')).toEqual([{ seq: 7, at_ms: START + 42_000, file: 'lru.py', note: 'good fix' }])
    expect(scoreEvidence(entry!, '')[0]?.note).toBe('0:42 · Ada in lru.py: typed “fix”')
    expect(scoreEvidence(null, 'asked about eviction')).toEqual([{ note: 'asked about eviction' }])
    expect(scoreEvidence(null, '  ')).toEqual([])
  })

  it('reads a citation back', () => {
    expect(momentText({ seq: 7, at_ms: START + 42_000, file: 'lru.py', note: 'good' }, START)).toBe('0:42 (edit #7) in lru.py — good')
    expect(momentText({ seq: 7, at_ms: START + 42_000, note: 'good' }, null)).toBe('(edit #7) — good')
    expect(momentText({ note: 'just a note' }, START)).toBe('just a note')
    expect(momentText({ async_at_ms: 52_000, file: 'a.py', lines: [3, 4], note: '' }, START)).toBe('async 0:52 in a.py:3–4')
    expect(scoreLine({ dimension: 'Design', score: 3.5, max: 4, evidence: [] })).toBe('Design: 3.5 / 4')
  })
})
