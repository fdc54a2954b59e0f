// Font size and theme controls for the top bar; the choice is applied to the page and remembered per
// browser (lib/prefs).

import { MAX_FONT_SIZE, MIN_FONT_SIZE, clampFontSize, loadPrefs, savePrefs, type Prefs } from '../lib/prefs'
import { h } from './dom'

function storage(): Storage | null {
  try {
    return window.localStorage
  } catch {
    return null
  }
}

/** Applies the stored preferences to the page (call before the first paint of any page). */
export function applyStoredPrefs(): Prefs {
  const prefs = loadPrefs(storage())
  apply(prefs)
  return prefs
}

function apply(prefs: Prefs): void {
  const root = document.documentElement
  root.dataset.theme = prefs.theme
  root.style.setProperty('--editor-font-size', `${prefs.fontSize}px`)
}

/** A − / + pair for the editor's font size and a dark theme switch. */
export function prefsControls(): HTMLElement {
  let prefs = loadPrefs(storage())
  const size = h('span', { class: 'pref-size muted', testid: 'font-size', 'aria-live': 'polite' })
  const smaller = h('button', { type: 'button', class: 'button small ghost', testid: 'font-smaller', 'aria-label': 'Smaller code font' }, 'A−')
  const larger = h('button', { type: 'button', class: 'button small ghost', testid: 'font-larger', 'aria-label': 'Larger code font' }, 'A+')
  const theme = h('button', { type: 'button', class: 'button small ghost', testid: 'theme-toggle', 'aria-pressed': 'false' }, 'Dark')
  const set = (next: Prefs) => {
    prefs = { ...next, fontSize: clampFontSize(next.fontSize) }
    savePrefs(storage(), prefs)
    render()
  }
  const render = () => {
    apply(prefs)
    size.textContent = `${prefs.fontSize}px`
    smaller.disabled = prefs.fontSize <= MIN_FONT_SIZE
    larger.disabled = prefs.fontSize >= MAX_FONT_SIZE
    theme.setAttribute('aria-pressed', String(prefs.theme === 'dark'))
    theme.title = prefs.theme === 'dark' ? 'Switch to the light theme' : 'Switch to the dark theme'
  }
  smaller.addEventListener('click', () => set({ ...prefs, fontSize: prefs.fontSize - 1 }))
  larger.addEventListener('click', () => set({ ...prefs, fontSize: prefs.fontSize + 1 }))
  theme.addEventListener('click', () => set({ ...prefs, theme: prefs.theme === 'dark' ? 'light' : 'dark' }))
  render()
  return h('span', { class: 'prefs', role: 'group', 'aria-label': 'Display' }, smaller, size, larger, theme)
}
