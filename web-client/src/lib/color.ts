// A stable colour per participant name, so a person keeps their colour across reconnects and tabs.

export interface UserColor {
  /** Caret and name label background (white text sits on it). */
  color: string
  /** Selection background: the same hue, translucent. */
  colorLight: string
}

/** FNV-1a over UTF-16 code units: tiny, stable, well spread for short strings. */
export function hashString(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * The colour of a person, keyed by their name: the one source for their cursor, avatar, authorship
 * tint, legend swatch and timeline entries.
 */
export function nameColor(name: string): UserColor {
  const h = hashString(name.trim().toLowerCase())
  const hue = h % 360
  // Saturation and lightness vary a little so neighbouring hues stay distinguishable. Lightness then
  // drops until white label text has WCAG AA contrast (yellows and greens need much darker shades).
  const sat = 60 + ((h >>> 9) % 20)
  let light = 40 + ((h >>> 17) % 8)
  let color = hslToHex(hue, sat, light)
  while (light > 15 && contrastWithWhite(color) < 4.6) color = hslToHex(hue, sat, --light)
  return { color, colorLight: `${color}33` }
}

export function hslToHex(h: number, s: number, l: number): string {
  const sat = s / 100
  const lig = l / 100
  const a = sat * Math.min(lig, 1 - lig)
  const channel = (n: number) => {
    const k = (n + h / 30) % 12
    const v = lig - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))
    return Math.round(v * 255).toString(16).padStart(2, '0')
  }
  return `#${channel(0)}${channel(8)}${channel(4)}`
}

/** WCAG relative luminance of a #rrggbb colour. */
export function luminance(hex: string): number {
  const lin = (i: number) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
  }
  return 0.2126 * lin(1) + 0.7152 * lin(3) + 0.0722 * lin(5)
}

/** WCAG contrast ratio of two #rrggbb colours (1 to 21). */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x)
  return (hi + 0.05) / (lo + 0.05)
}

/** WCAG contrast ratio of a #rrggbb colour against white. */
export function contrastWithWhite(hex: string): number {
  return contrastRatio(hex, '#ffffff')
}

/** `a` mixed with `b`: `t` = 0 gives `a`, 1 gives `b` (#rrggbb, per channel in sRGB, as CSS color-mix). */
export function mixHex(a: string, b: string, t: number): string {
  const ch = (hex: string, i: number) => parseInt(hex.slice(i, i + 2), 16)
  const out = [1, 3, 5].map((i) => Math.round(ch(a, i) * (1 - t) + ch(b, i) * t).toString(16).padStart(2, '0'))
  return `#${out.join('')}`
}

/** The editor's background and text colours per theme (the same values as the CSS variables). */
export const EDITOR_PALETTE = {
  light: { bg: '#ffffff', text: '#1d232b' },
  dark: { bg: '#16191f', text: '#e3e7ed' },
} as const

/** How much of a person's colour tints the text they wrote, per theme. */
export const TINT_SHARE = { light: 0.24, dark: 0.4 } as const

export interface AuthorTint {
  /** Background of the person's text. */
  bg: string
  /** Underline: the person's colour, lightened on the dark theme so it shows. */
  line: string
}

/** The tint of text written by someone of colour `color` (see `nameColor`) on `theme`'s editor. */
export function authorTint(color: string, theme: 'light' | 'dark'): AuthorTint {
  const p = EDITOR_PALETTE[theme]
  return {
    bg: mixHex(p.bg, color, TINT_SHARE[theme]),
    line: theme === 'light' ? color : mixHex(color, '#ffffff', 0.45),
  }
}

/** `#rgb`, `#rrggbb` or `#rrggbbaa`: the only colour syntax a remote state may bring into our CSS. */
const HEX_COLOR = /^#(?:[0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i

/**
 * `value` if it is a hex colour, else `fallback`. Remote awareness states are the peers' own words: a
 * "colour" such as `red; background-image:url(…)` put into a style attribute would make this browser
 * fetch whatever URL a peer chose.
 */
export function safeColor(value: unknown, fallback: string): string {
  return typeof value === 'string' && HEX_COLOR.test(value) ? value : fallback
}

/**
 * Drops a state's `user.color` / `user.colorLight` unless it is a hex colour, in place, so that code
 * reading states later (y-codemirror's remote carets and selections, which put them into style
 * attributes) sees only safe values; without them it falls back to its own default colour.
 */
export function scrubUserColors(state: unknown): void {
  if (typeof state !== 'object' || state === null) return
  const user = (state as Record<string, unknown>).user
  if (typeof user !== 'object' || user === null) return
  const fields = user as Record<string, unknown>
  for (const key of ['color', 'colorLight']) {
    if (key in fields && safeColor(fields[key], '') === '') delete fields[key]
  }
}

/**
 * Gives a state's user the colour of their name (`nameColor`), in place, whatever colour the peer
 * sent: one colour per person on every screen, and never a peer's own string in a style attribute.
 * A user without a name keeps only a hex colour (`scrubUserColors`).
 */
export function colorByName(state: unknown): void {
  scrubUserColors(state)
  if (typeof state !== 'object' || state === null) return
  const user = (state as Record<string, unknown>).user
  if (typeof user !== 'object' || user === null) return
  const fields = user as Record<string, unknown>
  if (typeof fields.name === 'string') Object.assign(fields, nameColor(fields.name))
}
