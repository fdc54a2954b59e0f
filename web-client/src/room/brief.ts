// The exercise brief, rendered from its Markdown by building DOM nodes (text nodes only, never HTML
// from the brief), in a pane any participant can open and close.

import { parseMarkdown, type Block, type Inline } from '../lib/markdown'
import { h } from '../ui/dom'

function inline(nodes: readonly Inline[]): Array<Node | string> {
  return nodes.map((n) => {
    switch (n.kind) {
      case 'text':
        return n.text
      case 'code':
        return h('code', null, n.text)
      case 'strong':
        return h('strong', null, inline(n.children))
      case 'em':
        return h('em', null, inline(n.children))
      case 'link':
        return h('a', { href: n.href, target: '_blank', rel: 'noopener noreferrer' }, inline(n.children))
    }
  })
}

function block(b: Block): HTMLElement {
  switch (b.kind) {
    case 'heading':
      // The pane's own title is the h2: the brief's headings sit below it.
      return h(b.level === 1 ? 'h3' : 'h4', null, inline(b.children))
    case 'paragraph':
      return h('p', null, inline(b.children))
    case 'list':
      return h(b.ordered ? 'ol' : 'ul', null, b.items.map((item) => h('li', null, inline(item))))
    case 'code':
      return h('pre', null, h('code', null, b.text))
  }
}

/** The brief as DOM: an element per block. */
export function renderBrief(markdown: string): HTMLElement {
  return h('div', { class: 'brief-body', testid: 'brief-body' }, parseMarkdown(markdown).map(block))
}

/** The brief's pane and the button that opens it; null when the exercise has no brief. */
export function briefPane(title: string, brief: string | undefined): { button: HTMLElement; pane: HTMLElement } | null {
  if (brief === undefined || brief.trim() === '') return null
  const id = 'brief-pane'
  const pane = h(
    'section',
    { class: 'interview-pane brief-pane', id, testid: 'brief-pane', hidden: true, 'aria-labelledby': 'brief-h' },
    h('h2', { id: 'brief-h' }, `Task: ${title}`),
    renderBrief(brief),
  )
  const button = h('button', { type: 'button', class: 'button ghost small', testid: 'brief-toggle', 'aria-expanded': 'false', 'aria-controls': id }, 'Task')
  button.addEventListener('click', () => {
    pane.hidden = !pane.hidden
    button.setAttribute('aria-expanded', String(!pane.hidden))
  })
  return { button, pane }
}
