// Tabs (WAI-ARIA tab pattern): one panel shown at a time, each scrolling on its own, arrow keys move
// between tabs. Used by the interviewer's panel so its sections never push each other off screen.

import { h } from './dom'

export interface Tab {
  id: string
  label: string
  panel: HTMLElement
}

export interface Tabs {
  el: HTMLElement
  select(id: string): void
  readonly selected: string
}

export function tabs(label: string, items: Tab[], onSelect: (id: string) => void = () => {}): Tabs {
  let current = items[0]?.id ?? ''
  const buttons = items.map((t) =>
    h(
      'button',
      {
        type: 'button',
        role: 'tab',
        id: `tab-${t.id}`,
        class: 'tab',
        'aria-controls': `tabpanel-${t.id}`,
        testid: `tab-${t.id}`,
        on: { click: () => select(t.id) },
      },
      t.label,
    ),
  )
  const panels = items.map((t) =>
    h('div', { role: 'tabpanel', id: `tabpanel-${t.id}`, class: 'tabpanel', 'aria-labelledby': `tab-${t.id}`, testid: `tabpanel-${t.id}`, tabindex: '0' }, t.panel),
  )
  const select = (id: string) => {
    current = id
    items.forEach((t, i) => {
      const on = t.id === id
      buttons[i].setAttribute('aria-selected', String(on))
      buttons[i].tabIndex = on ? 0 : -1
      panels[i].hidden = !on
    })
    onSelect(id)
  }
  const list = h('div', { role: 'tablist', class: 'tablist', 'aria-label': label }, ...buttons)
  list.addEventListener('keydown', (ev) => {
    const i = items.findIndex((t) => t.id === current)
    const step = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0
    if (step === 0 || i < 0) return
    ev.preventDefault()
    const next = (i + step + items.length) % items.length
    select(items[next].id)
    buttons[next].focus()
  })
  select(current)
  return {
    el: h('div', { class: 'tabs-frame' }, list, ...panels),
    select,
    get selected() {
      return current
    },
  }
}
