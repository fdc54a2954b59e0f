import { describe, expect, it } from 'vitest'
import { DEFAULT_MAX, appendMoment, momentNote, rubricRows, scoreChoices, setScore } from '../src/lib/rubric'
import type { LiveScore, Scorecard } from '../src/lib/types'

const card: Scorecard = {
  rubric: [
    { dimension: 'Correctness', score: 3, max: 4 },
    { dimension: 'Naming', score: 2, max: 2 },
    { dimension: 'Correctness', score: 1, max: 4 },
    { dimension: '  ', score: 1, max: 4 },
  ],
}

describe('rubricRows', () => {
  it('prefills one row per rubric dimension, in order, unscored', () => {
    expect(rubricRows(card, [])).toEqual([
      { dimension: 'Correctness', max: 4, score: null, asyncScore: 3 },
      { dimension: 'Naming', max: 2, score: null, asyncScore: 2 },
    ])
  })
  it('fills in live scores and keeps live-only dimensions after the rubric', () => {
    const live: LiveScore[] = [
      { dimension: 'Communication', score: 3, max: 4, evidence: [] },
      { dimension: 'Naming', score: 1, max: 2, evidence: [] },
    ]
    expect(rubricRows(card, live).map((r) => [r.dimension, r.score])).toEqual([
      ['Correctness', null],
      ['Naming', 1],
      ['Communication', 3],
    ])
  })
  it('works without a scorecard', () => {
    expect(rubricRows(null, [])).toEqual([])
  })
  it('gives a default maximum to rubric items without one', () => {
    expect(rubricRows({ rubric: [{ dimension: 'X', score: 0, max: 0 }] }, [])[0].max).toBe(DEFAULT_MAX)
  })
})

describe('scoreChoices', () => {
  it('offers one button per point for small whole maxima', () => {
    expect(scoreChoices(4)).toEqual([1, 2, 3, 4])
    expect(scoreChoices(2)).toEqual([1, 2])
  })
  it('falls back to a number field otherwise', () => {
    expect(scoreChoices(100)).toBeNull()
    expect(scoreChoices(2.5)).toBeNull()
    expect(scoreChoices(0)).toBeNull()
  })
})

describe('setScore', () => {
  it('updates in place, keeping evidence, or appends', () => {
    const scores: LiveScore[] = [{ dimension: 'A', score: 1, max: 4, evidence: [{ note: 'n' }] }]
    expect(setScore(scores, 'A', 3, 4)).toEqual([{ dimension: 'A', score: 3, max: 4, evidence: [{ note: 'n' }] }])
    expect(setScore(scores, 'B', 2, 4)).toHaveLength(2)
    expect(scores[0].score).toBe(1)
  })
})

describe('momentNote', () => {
  it('cites the elapsed time, the file and the line', () => {
    expect(momentNote({ elapsedMs: 750_000, file: 'lru.py', line: 19 })).toBe('[12:30 · lru.py:19] ')
    expect(momentNote({ elapsedMs: 5000, file: null, line: null })).toBe('[0:05] ')
  })
  it('appends on a line of its own', () => {
    const m = { elapsedMs: 0, file: 'a.py', line: 1 }
    expect(appendMoment('', m)).toBe('[0:00 · a.py:1] ')
    expect(appendMoment('first', m)).toBe('first\n[0:00 · a.py:1] ')
    expect(appendMoment('first\n', m)).toBe('first\n[0:00 · a.py:1] ')
  })
})
