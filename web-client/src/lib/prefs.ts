// Display preferences remembered per browser: editor font size and the colour theme. Pure apart from
// the storage handed in, so it is unit-tested.

export type Theme = 'light' | 'dark'

export interface Prefs {
  fontSize: number
  theme: Theme
}

/** localStorage key (one per browser, shared by every room and the dashboard). */
export const PREFS_KEY = 'handoff.prefs'
export const DEFAULT_FONT_SIZE = 14
export const MIN_FONT_SIZE = 11
export const MAX_FONT_SIZE = 24

export const DEFAULT_PREFS: Prefs = { fontSize: DEFAULT_FONT_SIZE, theme: 'light' }

type Store = Pick<Storage, 'getItem' | 'setItem'>

export function clampFontSize(n: number): number {
  if (!Number.isFinite(n)) return DEFAULT_FONT_SIZE
  return Math.min(MAX_FONT_SIZE, Math.max(MIN_FONT_SIZE, Math.round(n)))
}

/** The stored preferences, each field falling back to its default when missing or malformed. */
export function loadPrefs(storage: Store | null): Prefs {
  let raw: unknown = null
  try {
    raw = JSON.parse(storage?.getItem(PREFS_KEY) ?? 'null')
  } catch {
    raw = null
  }
  const o = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {}
  return {
    fontSize: typeof o.fontSize === 'number' ? clampFontSize(o.fontSize) : DEFAULT_FONT_SIZE,
    theme: o.theme === 'dark' ? 'dark' : 'light',
  }
}

/** Stores `prefs`; a storage that refuses (private mode, quota) keeps them for this page only. */
export function savePrefs(storage: Store | null, prefs: Prefs): void {
  try {
    storage?.setItem(PREFS_KEY, JSON.stringify({ fontSize: clampFontSize(prefs.fontSize), theme: prefs.theme }))
  } catch {
    // Nothing to do: the page still applies them.
  }
}
