import { describe, expect, it } from 'vitest'
import { EDITOR_PALETTE, authorTint, colorByName, contrastRatio, hashString, hslToHex, mixHex, nameColor } from '../src/lib/color'

describe('nameColor', () => {
  it('gives the colours the report uses (server/src/report/colors.rs pins the same)', () => {
    for (const [name, color, tinted] of [
      ['Ada Lovelace', '#7d28af', '#e0cbec'],
      ['Grace Hopper', '#84751f', '#e1dec9'],
      ['  ÉMILE ', '#18817c', '#c8e1e0'],
      ['Cand Idate', '#af2364', '#eccada'],
    ]) {
      expect([nameColor(name).color, authorTint(nameColor(name).color, 'light').bg], name).toEqual([color, tinted])
    }
  })

  it('is stable for a name and ignores case and surrounding spaces', () => {
    expect(nameColor('Ada Lovelace')).toEqual(nameColor('Ada Lovelace'))
    expect(nameColor(' ada lovelace ')).toEqual(nameColor('Ada Lovelace'))
  })
  it('gives CSS hex colours, the light one translucent', () => {
    const { color, colorLight } = nameColor('Grace Hopper')
    expect(color).toMatch(/^#[0-9a-f]{6}$/)
    expect(colorLight).toBe(`${color}33`)
  })
  it('spreads names over many colours', () => {
    const names = ['Ada', 'Grace', 'Alan', 'Barbara', 'Edsger', 'Donald', 'Margaret', 'Ken', 'Dennis', 'Linus']
    expect(new Set(names.map((n) => nameColor(n).color)).size).toBeGreaterThanOrEqual(9)
  })
  it('keeps colours dark enough for white label text', () => {
    for (const n of Array.from({ length: 500 }, (_, i) => `person ${i}`)) {
      const hex = nameColor(n).color
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
      const lin = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)
      const lum = 0.2126 * lin(r!) + 0.7152 * lin(g!) + 0.0722 * lin(b!)
      expect((1.05 / (lum + 0.05))).toBeGreaterThan(4.5) // WCAG AA contrast with white text
    }
  })
})

describe('helpers', () => {
  it('hashes deterministically', () => {
    expect(hashString('')).toBe(0x811c9dc5)
    expect(hashString('a')).not.toBe(hashString('b'))
  })
  it('converts hsl to hex', () => {
    expect(hslToHex(0, 100, 50)).toBe('#ff0000')
    expect(hslToHex(120, 100, 25)).toBe('#008000')
    expect(hslToHex(0, 0, 100)).toBe('#ffffff')
  })
})

describe('authorTint', () => {
  const names = ['Ada Candidate', 'Grace Interviewer', 'Linus', 'Yuki', 'Zoë', 'Ola', 'Bram', 'Mei', 'Sam', 'Priya', 'Kofi', 'Inès']
  for (const theme of ['light', 'dark'] as const) {
    it(`keeps code readable and the tint visible on the ${theme} theme`, () => {
      const p = EDITOR_PALETTE[theme]
      for (const n of names) {
        const tint = authorTint(nameColor(n).color, theme)
        // Code on the tint stays at WCAG AA for text.
        expect(contrastRatio(p.text, tint.bg)).toBeGreaterThanOrEqual(4.5)
        // The tint is told apart from the plain background…
        expect(contrastRatio(p.bg, tint.bg)).toBeGreaterThanOrEqual(1.15)
        // …and the underline meets the 3:1 of WCAG non-text contrast.
        expect(contrastRatio(p.bg, tint.line)).toBeGreaterThanOrEqual(3)
      }
    })
  }
  it('mixes like CSS color-mix in sRGB', () => {
    expect(mixHex('#000000', '#ffffff', 0.5)).toBe('#808080')
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5)
  })
})

describe('colorByName', () => {
  it("replaces a peer's colours with the colour of its name", () => {
    const state = { user: { name: 'Ada', color: '#000000', colorLight: 'url(x)' } }
    colorByName(state)
    expect(state.user).toEqual({ name: 'Ada', ...nameColor('Ada') })
  })
  it('only scrubs a user without a name', () => {
    const state = { user: { color: 'red; x' } }
    colorByName(state)
    expect(state.user).toEqual({})
    for (const odd of [null, 1, { user: null }]) expect(() => colorByName(odd)).not.toThrow()
  })
})
