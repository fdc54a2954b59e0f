import { describe, expect, it } from 'vitest'
import { candidateBanner, clockText, mergeQuestions, parseRoomEvent, reopenable, roomStateText } from '../src/lib/interview'
import { parseInline, parseMarkdown } from '../src/lib/markdown'

describe('the candidate banner', () => {
  it('mentions voice only where the room has it', () => {
    expect(candidateBanner(false)).not.toMatch(/voice/i)
    expect(candidateBanner(false)).toContain('This session is recorded')
    expect(candidateBanner(true)).toContain('Voice is optional')
  })
  it('says whether voice is recorded, and a missing record_voice follows voice', () => {
    expect(candidateBanner(true, true)).toContain('voice included')
    expect(candidateBanner(true)).toBe(candidateBanner(true, true))
    expect(candidateBanner(true, false)).toContain('voice is not')
    expect(candidateBanner(true, false)).toContain('This session is recorded')
  })
})

describe('the room clock', () => {
  it('counts from the start and shows the time left, then the time over', () => {
    expect(clockText(1000, 1000 + 65_000)).toEqual({ elapsed: '1:05', left: null, over: false })
    expect(clockText(0, 5 * 60_000, 45)).toEqual({ elapsed: '5:00', left: '40:00 left', over: false })
    expect(clockText(0, 46 * 60_000, 45)).toEqual({ elapsed: '46:00', left: '1:00 over', over: true })
    expect(clockText(10_000, 0).elapsed).toBe('0:00')
  })
})

describe('room state in words', () => {
  const at = (ms: number) => `t${ms}`
  it('says live, ended, and until when an ended room can be reopened', () => {
    expect(roomStateText(null, 0, at)).toBe('Not promoted')
    expect(roomStateText({ id: 'r', status: 'live', started_at_ms: 0 }, 5, at)).toBe('Live')
    const ended = { id: 'r', status: 'ended' as const, started_at_ms: 0, ended_at_ms: 10, reopen_until_ms: 100 }
    expect(roomStateText(ended, 50, at)).toBe('Ended · can be reopened until t100')
    expect(reopenable(ended, 50)).toBe(true)
    expect(roomStateText(ended, 100, at)).toBe('Ended')
    expect(reopenable(ended, 100)).toBe(false)
  })
})

describe('room events', () => {
  it('reads a pushed question and ignores what it does not know', () => {
    expect(parseRoomEvent('{"event":"question","n":2,"at_ms":5,"text":"Why?"}')).toEqual({ event: 'question', question: { n: 2, at_ms: 5, text: 'Why?' } })
    expect(parseRoomEvent('{"event":"later","x":1}')).toBeNull()
    expect(parseRoomEvent('not json')).toBeNull()
  })
  it('merges questions by number, in order', () => {
    const q = (n: number) => ({ n, at_ms: n, text: `q${n}` })
    expect(mergeQuestions([q(2)], [q(1), q(2), q(3)]).map((x) => x.n)).toEqual([1, 2, 3])
  })
})

describe('the brief', () => {
  it('parses headings, paragraphs, lists and fenced code', () => {
    const blocks = parseMarkdown('# LRU cache\n\nImplement `get` and\n`put`.\n\n- one\n- two\n\n1. first\n\n```py\n<b>x</b>\n```\n')
    expect(blocks.map((b) => b.kind)).toEqual(['heading', 'paragraph', 'list', 'list', 'code'])
    expect(blocks[2]).toMatchObject({ ordered: false, items: [[{ kind: 'text', text: 'one' }], [{ kind: 'text', text: 'two' }]] })
    expect(blocks[4]).toEqual({ kind: 'code', text: '<b>x</b>' })
  })
  it('keeps HTML as text and links only to safe targets', () => {
    expect(parseInline('<img src=x onerror=alert(1)>')).toEqual([{ kind: 'text', text: '<img src=x onerror=alert(1)>' }])
    expect(parseInline('[docs](https://example.com/a)')).toEqual([{ kind: 'link', href: 'https://example.com/a', children: [{ kind: 'text', text: 'docs' }] }])
    // The target is dropped: only its text stays (the unmatched ")" of `alert(1)` with it).
    expect(parseInline('[x](javascript:alert(1))')).toEqual([{ kind: 'text', text: 'x)' }])
  })
  it('marks bold and italic, but not underscores inside names', () => {
    expect(parseInline('**big** and *small*')).toEqual([
      { kind: 'strong', children: [{ kind: 'text', text: 'big' }] },
      { kind: 'text', text: ' and ' },
      { kind: 'em', children: [{ kind: 'text', text: 'small' }] },
    ])
    expect(parseInline('call max_size_hint here')).toEqual([{ kind: 'text', text: 'call max_size_hint here' }])
  })
})
