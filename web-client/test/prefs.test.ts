import { describe, expect, it } from 'vitest'
import { DEFAULT_PREFS, MAX_FONT_SIZE, MIN_FONT_SIZE, PREFS_KEY, loadPrefs, savePrefs } from '../src/lib/prefs'

class MemoryStorage {
  data = new Map<string, string>()
  getItem(k: string) {
    return this.data.get(k) ?? null
  }
  setItem(k: string, v: string) {
    this.data.set(k, v)
  }
}

describe('prefs', () => {
  it('defaults when nothing is stored or storage is unavailable', () => {
    expect(loadPrefs(new MemoryStorage())).toEqual(DEFAULT_PREFS)
    expect(loadPrefs(null)).toEqual(DEFAULT_PREFS)
  })
  it('remembers font size and theme', () => {
    const s = new MemoryStorage()
    savePrefs(s, { fontSize: 17, theme: 'dark' })
    expect(loadPrefs(s)).toEqual({ fontSize: 17, theme: 'dark' })
  })
  it('clamps sizes and ignores malformed values', () => {
    const s = new MemoryStorage()
    s.setItem(PREFS_KEY, JSON.stringify({ fontSize: 400, theme: 'neon' }))
    expect(loadPrefs(s)).toEqual({ fontSize: MAX_FONT_SIZE, theme: 'light' })
    s.setItem(PREFS_KEY, JSON.stringify({ fontSize: 2 }))
    expect(loadPrefs(s).fontSize).toBe(MIN_FONT_SIZE)
    s.setItem(PREFS_KEY, '{not json')
    expect(loadPrefs(s)).toEqual(DEFAULT_PREFS)
  })
  it('survives a storage that throws on write', () => {
    const throwing = { getItem: () => null, setItem: () => { throw new Error('quota') } }
    expect(() => savePrefs(throwing, { fontSize: 15, theme: 'dark' })).not.toThrow()
  })
})
