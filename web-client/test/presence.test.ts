import { describe, expect, it } from 'vitest'
import { presenceAnnouncements, type Present } from '../src/lib/presence'

const m = (...entries: Array<[number, Present]>) => new Map(entries)
const ada = { name: 'Ada', role: 'candidate' }
const grace = { name: 'Grace', role: 'interviewer' }

describe('presenceAnnouncements', () => {
  it('announces joins and leaves', () => {
    expect(presenceAnnouncements(m([1, grace]), m([1, grace], [2, ada]))).toEqual(['Ada (candidate) joined the room.'])
    expect(presenceAnnouncements(m([1, grace], [2, ada]), m([1, grace]))).toEqual(['Ada (candidate) left the room.'])
  })
  it('is silent for a reconnect or a second tab of the same person', () => {
    expect(presenceAnnouncements(m([2, ada]), m([3, ada]))).toEqual([])
    expect(presenceAnnouncements(m([2, ada]), m([2, ada], [3, ada]))).toEqual([])
  })
})
