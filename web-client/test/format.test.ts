import { describe, expect, it } from 'vitest'
import {
  compactTimeline,
  describeEvent,
  flagCountLabel,
  flagKindLabel,
  flagSentence,
  formatClock,
  formatDateTime,
  formatDuration,
  integrityStats,
  linesLabel,
  locationLabel,
  scoreRatio,
  scoreText,
  scorecardTotal,
} from '../src/lib/format'
import type { IntegritySummary } from '../src/lib/types'

describe('time', () => {
  it('formats session clocks', () => {
    expect(formatClock(0)).toBe('0:00')
    expect(formatClock(4_200)).toBe('0:04')
    expect(formatClock(750_000)).toBe('12:30')
    expect(formatClock(3_723_000)).toBe('1:02:03')
    expect(formatClock(-5)).toBe('0:00')
  })
  it('formats durations', () => {
    expect(formatDuration(850)).toBe('850 ms')
    expect(formatDuration(4_200)).toBe('4.2 s')
    expect(formatDuration(42_000)).toBe('42 s')
    expect(formatDuration(65_000)).toBe('1 min 5 s')
    expect(formatDuration(120_000)).toBe('2 min')
    expect(formatDuration(7_380_000)).toBe('2 h 3 min')
  })
  it('formats local date-times', () => {
    const ms = new Date(2025, 10, 22, 9, 5).getTime()
    expect(formatDateTime(ms)).toBe('2025-11-22 09:05')
  })
})

describe('locations', () => {
  it('labels lines and files', () => {
    expect(linesLabel([3, 3])).toBe('L3')
    expect(linesLabel([3, 7])).toBe('L3–7')
    expect(linesLabel(undefined)).toBe('')
    expect(locationLabel('lru.py', [3, 7])).toBe('lru.py:L3–7')
    expect(locationLabel('lru.py')).toBe('lru.py')
    expect(locationLabel(undefined, [1, 2])).toBe('')
  })
})

describe('scorecard', () => {
  const card = {
    rubric: [
      { dimension: 'correctness', score: 3, max: 4 },
      { dimension: 'style', score: 1.5, max: 2 },
    ],
  }
  it('totals and formats scores', () => {
    expect(scorecardTotal(card)).toEqual({ score: 4.5, max: 6 })
    expect(scoreText(4.5, 6)).toBe('4.5 / 6 (75%)')
    expect(scoreText(2, 0)).toBe('2')
  })
  it('clamps the bar ratio', () => {
    expect(scoreRatio({ score: 3, max: 4 })).toBe(0.75)
    expect(scoreRatio({ score: 5, max: 4 })).toBe(1)
    expect(scoreRatio({ score: 1, max: 0 })).toBe(0)
  })
})

describe('integrity', () => {
  const summary: IntegritySummary = {
    flags: [{ kind: 'paste', at_ms: 5200, file: 'lru.py', lines: [3, 9], detail: 'pasted 240 characters into lru.py' }],
    pastes: { count: 1, largest: 240, total_chars: 260 },
    focus: { losses: 2, away_ms: 65_000, longest_away_ms: 60_000 },
    first_keystroke_ms: 4_000,
    bursts: 0,
  }
  it('summarises the headline numbers', () => {
    expect(integrityStats(summary)).toEqual([
      ['Large pastes', '1 (largest 240 chars, 260 in all)'],
      ['Focus', '2× away, 1 min 5 s in all (longest 1 min)'],
      ['First keystroke', 'at 0:04'],
      ['Typing bursts', '0'],
    ])
  })
  it('says so when nothing happened', () => {
    const quiet: IntegritySummary = {
      flags: [],
      pastes: { count: 0, largest: 0, total_chars: 0 },
      focus: { losses: 0, away_ms: 0, longest_away_ms: 0 },
      first_keystroke_ms: null,
      bursts: 0,
      key_events: 3,
      focus_events: 2,
    }
    const stats = Object.fromEntries(integrityStats(quiet))
    expect(stats['Focus']).toBe('never left')
    expect(stats['First keystroke']).toBe('never typed')
    expect(stats['Large pastes']).toContain('none ≥ 200')
  })
  it('says "no events recorded" when the stream holds none, not "never typed" or "never left"', () => {
    const unrecorded: IntegritySummary = {
      flags: [],
      pastes: { count: 0, largest: 0, total_chars: 0 },
      focus: { losses: 0, away_ms: 0, longest_away_ms: 0 },
      first_keystroke_ms: null,
      bursts: 0,
      key_events: 0,
      focus_events: 0,
    }
    const stats = Object.fromEntries(integrityStats(unrecorded))
    expect(stats['Focus']).toBe('no events recorded')
    expect(stats['First keystroke']).toBe('no events recorded')
    expect(stats['Typing bursts']).toBe('no events recorded')
    expect(stats['Large pastes']).toBe('no events recorded')
  })
  it('labels flags', () => {
    expect(flagKindLabel('paste')).toBe('Large paste')
    expect(flagKindLabel('focus_lost')).toBe('Left the exercise')
    expect(flagKindLabel('burst')).toBe('Typing burst')
    expect(flagKindLabel('insertion')).toBe('Inserted at once')
    expect(flagKindLabel('new_kind')).toBe('new kind')
    expect(flagSentence(summary.flags[0]!)).toBe('0:05 · Large paste: pasted 240 characters into lru.py')
    expect(flagCountLabel(0)).toBe('none')
    expect(flagCountLabel(1)).toBe('1 flag')
    expect(flagCountLabel(3)).toBe('3 flags')
  })
})

describe('events', () => {
  it('describes known kinds from their fields', () => {
    expect(describeEvent({ at_ms: 0, kind: 'paste', file: 'a.py', length: 240 })).toBe('pasted 240 chars in a.py')
    expect(describeEvent({ at_ms: 0, kind: 'paste', text: 'abc' })).toBe('pasted 3 chars')
    expect(describeEvent({ at_ms: 0, kind: 'edit', file: 'a.py', insert: 'x' })).toBe('typed 1 char in a.py')
    expect(describeEvent({ at_ms: 0, kind: 'focus_lost' })).toBe('left the exercise')
    expect(describeEvent({ at_ms: 0, kind: 'focus_gained' })).toBe('came back')
    expect(describeEvent({ at_ms: 0, kind: 'run', passed: 3, failed: 1 })).toBe('ran the tests: 3 passed, 1 failed')
    expect(describeEvent({ at_ms: 0, kind: 'run', exit_code: 0 })).toBe('ran the code (exit 0)')
    expect(describeEvent({ at_ms: 0, kind: 'prompt', text: 'Implement get()' })).toBe('prompt: Implement get()')
    expect(describeEvent({ at_ms: 0, kind: 'custom_thing', file: 'b.py' })).toBe('custom thing in b.py')
  })
  it('merges runs of edits in one file and caps the list', () => {
    const events = [
      { at_ms: 0, kind: 'focus_gained' },
      { at_ms: 10, kind: 'edit', file: 'a.py', insert: 'a' },
      { at_ms: 20, kind: 'edit', file: 'a.py', insert: 'b' },
      { at_ms: 30, kind: 'edit', file: 'b.py', insert: 'c' },
      { at_ms: 40, kind: 'paste', file: 'a.py', length: 300, lines: [2, 4] },
    ]
    const { entries, hidden } = compactTimeline(events)
    expect(hidden).toBe(0)
    expect(entries.map((e) => e.text)).toEqual(['came back', '2 edits in a.py', 'typed 1 char in b.py', 'pasted 300 chars in a.py'])
    expect(entries[1]).toMatchObject({ at_ms: 10, until_ms: 20, count: 2 })
    expect(entries[3]!.lines).toEqual([2, 4])
    const many = Array.from({ length: 1000 }, (_, i) => ({ at_ms: i, kind: i % 2 ? 'focus_lost' : 'focus_gained' }))
    const capped = compactTimeline(many, 100)
    expect(capped.entries).toHaveLength(100)
    expect(capped.hidden).toBe(900)
  })
})
