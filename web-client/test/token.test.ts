import { describe, expect, it } from 'vitest'
import { DASHBOARD_KEY, fragmentParam, jwtClaims, roomTokenKey, takeCredential, type KeyValueStore } from '../src/lib/token'

function memoryStore(initial: Record<string, string> = {}): KeyValueStore & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial))
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  }
}

describe('fragmentParam', () => {
  it('reads the token from the fragment', () => {
    expect(fragmentParam('#token=abc.def.ghi', 'token')).toBe('abc.def.ghi')
  })
  it('reads it among other parameters and without the hash sign', () => {
    expect(fragmentParam('#x=1&token=t0k&y=2', 'token')).toBe('t0k')
    expect(fragmentParam('token=t0k', 'token')).toBe('t0k')
  })
  it('is null when absent or empty', () => {
    expect(fragmentParam('', 'token')).toBeNull()
    expect(fragmentParam('#', 'token')).toBeNull()
    expect(fragmentParam('#token=', 'token')).toBeNull()
    expect(fragmentParam('#dashboard=x', 'token')).toBeNull()
  })
  it('decodes percent-encoding', () => {
    expect(fragmentParam('#dashboard=a%2Bb', 'dashboard')).toBe('a+b')
  })
})

describe('takeCredential', () => {
  it('moves a fragment token into storage, keyed by room', () => {
    const store = memoryStore()
    const taken = takeCredential('#token=fresh', 'token', store, roomTokenKey('room_1'))
    expect(taken).toEqual({ value: 'fresh', fromFragment: true })
    expect(store.data.get('handoff.room.room_1')).toBe('fresh')
  })
  it('falls back to storage on reload (no fragment)', () => {
    const store = memoryStore({ [roomTokenKey('room_1')]: 'kept' })
    expect(takeCredential('', 'token', store, roomTokenKey('room_1'))).toEqual({ value: 'kept', fromFragment: false })
    expect(takeCredential('', 'token', store, roomTokenKey('room_2')).value).toBeNull()
  })
  it('lets a fresh link replace a stored token', () => {
    const store = memoryStore({ [roomTokenKey('r')]: 'old' })
    expect(takeCredential('#token=new', 'token', store, roomTokenKey('r')).value).toBe('new')
    expect(store.data.get(roomTokenKey('r'))).toBe('new')
  })
  it('handles the dashboard link the server prints', () => {
    const store = memoryStore()
    expect(takeCredential('#dashboard=dash', 'dashboard', store, DASHBOARD_KEY).value).toBe('dash')
    expect(store.data.get(DASHBOARD_KEY)).toBe('dash')
  })
})

describe('jwtClaims', () => {
  const b64url = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  it('decodes the payload without verifying', () => {
    const token = `${b64url('{"alg":"HS256"}')}.${b64url('{"role":"observer","name":"Zoë"}')}.sig`
    expect(jwtClaims(token)).toEqual({ role: 'observer', name: 'Zoë' })
  })
  it('is null for garbage', () => {
    expect(jwtClaims('nope')).toBeNull()
    expect(jwtClaims('a.!!!.c')).toBeNull()
  })
})
