import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { NotesSaver, type SaveStatus } from '../src/room/notes'

describe('NotesSaver', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('saves once after typing pauses, with the latest text', async () => {
    const saved: string[] = []
    const states: SaveStatus[] = []
    const saver = new NotesSaver(async (n) => void saved.push(n), (s) => states.push(s), 800)
    saver.edit('a')
    saver.edit('ab')
    await vi.advanceTimersByTimeAsync(500)
    saver.edit('abc')
    await vi.advanceTimersByTimeAsync(799)
    expect(saved).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(saved).toEqual(['abc'])
    expect(states.at(-1)).toEqual({ state: 'saved', text: 'Saved' })
  })

  it('never runs two saves at once and sends what was typed meanwhile afterwards', async () => {
    const saved: string[] = []
    let release: () => void = () => {}
    const saver = new NotesSaver(
      (n) => {
        saved.push(n)
        return new Promise<void>((r) => (release = r))
      },
      () => {},
      10,
    )
    saver.edit('one')
    await vi.advanceTimersByTimeAsync(10)
    saver.edit('two')
    await vi.advanceTimersByTimeAsync(10)
    expect(saved).toEqual(['one'])
    release()
    await vi.advanceTimersByTimeAsync(0)
    expect(saved).toEqual(['one', 'two'])
  })

  it('reports a failure and retries on the next flush', async () => {
    let fail = true
    const saved: string[] = []
    const states: SaveStatus[] = []
    const saver = new NotesSaver(
      async (n) => {
        if (fail) throw new Error('offline')
        saved.push(n)
      },
      (s) => states.push(s),
      10,
    )
    saver.edit('keep me')
    await vi.advanceTimersByTimeAsync(10)
    expect(states.at(-1)).toEqual({ state: 'error', text: 'Not saved: offline' })
    fail = false
    saver.flush()
    await vi.advanceTimersByTimeAsync(0)
    expect(saved).toEqual(['keep me'])
  })

  it('settle saves pending text and waits for it', async () => {
    const saved: string[] = []
    let release: () => void = () => {}
    const saver = new NotesSaver(
      (n) => {
        saved.push(n)
        return new Promise<void>((r) => (release = r))
      },
      () => {},
      10_000,
    )
    saver.edit('last words')
    let settled = false
    const done = saver.settle().then(() => (settled = true))
    expect(saved).toEqual(['last words']) // did not wait for the debounce
    await vi.advanceTimersByTimeAsync(0)
    expect(settled).toBe(false)
    release()
    await done
    expect(settled).toBe(true)
    await expect(saver.settle()).resolves.toBeUndefined() // nothing pending: immediate
  })

  it('flush without edits does nothing', () => {
    const save = vi.fn(async () => {})
    new NotesSaver(save, () => {}).flush()
    expect(save).not.toHaveBeenCalled()
  })
})
