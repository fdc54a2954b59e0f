// "Who wrote what": the open file's text marked by who wrote it, from the export's authorship ranges.
// Live text carries its author's colour (the colour of their cursor and avatar, `nameColor`), with a
// tint for each theme (`authorTint`, contrast-tested) and an underline; the submission stays grey.
// The marks are computed from the server's ranges, then only mapped through later edits until the next
// fetch (the workspace refetches a moment after edits pause, so they follow the session live).

import { StateEffect, StateField, type Extension } from '@codemirror/state'
import { Decoration, type DecorationSet, EditorView } from '@codemirror/view'
import { authorTint, nameColor } from '../lib/color'
import { authorshipRanges, snapToCodePoints, type AuthorRange } from '../lib/record'
import type { Authored } from '../lib/types'
import { h } from '../ui/dom'

const setMarks = StateEffect.define<AuthorRange[] | null>()

const submissionMark = Decoration.mark({ class: 'cm-author cm-author-submission', attributes: { 'data-author-source': 'submission' } })

/** The CSS variables of a person's mark: their colour and its tint on each theme. */
export function authorStyle(author: string): string {
  const color = nameColor(author).color
  const light = authorTint(color, 'light')
  const dark = authorTint(color, 'dark')
  return `--author-bg: ${light.bg}; --author-line: ${light.line}; --author-bg-dark: ${dark.bg}; --author-line-dark: ${dark.line}`
}

const liveMarks = new Map<string, Decoration>()
function markFor(r: AuthorRange): Decoration {
  if (r.source === 'submission') return submissionMark
  const key = `${r.source}\u0000${r.author}`
  let mark = liveMarks.get(key)
  if (!mark) {
    mark = Decoration.mark({
      class: `cm-author cm-author-live cm-author-${r.source}`,
      attributes: { 'data-author-source': r.source, 'data-author': r.author, style: authorStyle(r.author), title: `Written by ${r.author} (${r.source})` },
    })
    liveMarks.set(key, mark)
  }
  return mark
}

const field = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(set, tr) {
    let next = set.map(tr.changes)
    for (const e of tr.effects) {
      if (e.is(setMarks)) next = e.value === null ? Decoration.none : Decoration.set(e.value.map((r) => markFor(r).range(r.from, r.to)))
    }
    return next
  },
  provide: (f) => EditorView.decorations.from(f),
})

/** The editor extension that holds the marks (empty until `showAuthorship`). */
export function authorshipMarks(): Extension {
  return field
}

/** Marks `view`'s document with `authorship` (null clears); returns the ranges shown. */
export function showAuthorship(view: EditorView, authorship: readonly Authored[] | null): AuthorRange[] {
  if (authorship === null) {
    view.dispatch({ effects: setMarks.of(null) })
    return []
  }
  const text = view.state.doc.toString()
  const ranges = snapToCodePoints(text, authorshipRanges(authorship, text.length))
  view.dispatch({ effects: setMarks.of(ranges) })
  return ranges
}

/** The legend: the submission, then each person whose live text is in the open file, in their colour. */
export class AuthorshipLegend {
  readonly el: HTMLElement
  private readonly items = h('span', { class: 'legend-items' })
  readonly status = h('span', { class: 'legend-status muted', testid: 'authorship-status', role: 'status', 'aria-live': 'polite' })

  constructor() {
    this.el = h('div', { class: 'authorship-legend', testid: 'authorship-legend', hidden: true, role: 'note', 'aria-label': 'Who wrote what' }, this.items, this.status)
    this.people([])
  }

  /** Lists the submission and the authors of `ranges` (each once, in order of appearance). */
  people(ranges: readonly AuthorRange[]): void {
    const seen = new Map<string, string>()
    for (const r of ranges) if (r.source !== 'submission' && !seen.has(r.author)) seen.set(r.author, r.source)
    this.items.replaceChildren(
      h('span', { class: 'legend-item' }, h('span', { class: 'legend-swatch cm-author-submission' }), 'Submission'),
      ...[...seen].map(([author, source]) =>
        h(
          'span',
          { class: 'legend-item', testid: 'legend-person', 'data-author': author },
          h('span', { class: 'legend-swatch cm-author-live', style: authorStyle(author) }),
          `${author} (${source}, live)`,
        ),
      ),
    )
  }
}
