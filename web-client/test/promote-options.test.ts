import { describe, expect, it } from 'vitest'
import { MAX_DURATION_MIN, parseDuration } from '../src/dashboard/options'

describe('the length field at promote', () => {
  it('is optional', () => {
    expect(parseDuration('')).toEqual({ ok: true })
    expect(parseDuration('  ')).toEqual({ ok: true })
  })
  it('takes whole minutes in range', () => {
    expect(parseDuration('45')).toEqual({ ok: true, minutes: 45 })
    expect(parseDuration(String(MAX_DURATION_MIN))).toEqual({ ok: true, minutes: MAX_DURATION_MIN })
  })
  it('refuses what the server would refuse, saying what to fix', () => {
    for (const bad of ['0', '-5', '4.5', 'abc', String(MAX_DURATION_MIN + 1)]) {
      const r = parseDuration(bad)
      expect(r.ok, bad).toBe(false)
      if (!r.ok) expect(r.message).toContain('whole number of minutes')
    }
  })
})
