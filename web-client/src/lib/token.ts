// Credentials that arrive in the URL fragment (never sent to the server, so never in access logs) and
// where they are kept afterwards: sessionStorage, so a reload works but nothing outlives the tab.

/** Minimal slice of the Storage API, so tests can pass a Map-backed fake. */
export interface KeyValueStore {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
  removeItem(key: string): void
}

/** Reads `name=value` from a fragment such as `#token=abc` or `#a=1&token=abc`; null when absent or empty. */
export function fragmentParam(hash: string, name: string): string | null {
  const body = hash.startsWith('#') ? hash.slice(1) : hash
  if (body === '') return null
  const value = new URLSearchParams(body).get(name)
  return value === null || value.trim() === '' ? null : value.trim()
}

export function roomTokenKey(roomId: string): string {
  return `handoff.room.${roomId}`
}

export const DASHBOARD_KEY = 'handoff.dashboard'

export interface Taken {
  /** The credential to use, from the fragment or, failing that, from storage. */
  value: string | null
  /** True when the fragment held it: the caller should drop the fragment from the address bar. */
  fromFragment: boolean
}

/**
 * Takes the credential `param` out of the fragment into `store` under `key`. A fresh link wins over a
 * stored credential (it may be a new token for the same room).
 */
export function takeCredential(hash: string, param: string, store: KeyValueStore, key: string): Taken {
  const fresh = fragmentParam(hash, param)
  if (fresh !== null) {
    store.setItem(key, fresh)
    return { value: fresh, fromFragment: true }
  }
  return { value: store.getItem(key), fromFragment: false }
}

/** The payload of a JWT, decoded without verifying it (display only: the server verifies). */
export function jwtClaims(token: string): Record<string, unknown> | null {
  const part = token.split('.')[1]
  if (!part) return null
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=')
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes))
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : null
  } catch {
    return null
  }
}
