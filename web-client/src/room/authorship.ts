// "Who wrote what": the open file's text marked by who wrote it (submission / candidate / interviewer),
// from the export's authorship ranges. The marks are computed when the interviewer asks (the toggle or
// Refresh), then only mapped through later edits, never recomputed per keystroke.

import { StateEffect, StateField, type Extension } from '@codemirror/state'
import { Decoration, type DecorationSet, EditorView } from '@codemirror/view'
import { authorshipRanges, snapToCodePoints, type AuthorRange, type AuthorSource } from '../lib/record'
import type { Authored } from '../lib/types'
import { h } from '../ui/dom'

const setMarks = StateEffect.define<AuthorRange[] | null>()

const marks: Record<AuthorSource, Decoration> = {
  submission: Decoration.mark({ class: 'cm-author cm-author-submission', attributes: { 'data-author-source': 'submission' } }),
  candidate: Decoration.mark({ class: 'cm-author cm-author-candidate', attributes: { 'data-author-source': 'candidate' } }),
  interviewer: Decoration.mark({ class: 'cm-author cm-author-interviewer', attributes: { 'data-author-source': 'interviewer' } }),
}

const field = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(set, tr) {
    let next = set.map(tr.changes)
    for (const e of tr.effects) {
      if (e.is(setMarks)) {
        next = e.value === null ? Decoration.none : Decoration.set(e.value.map((r) => marks[r.source].range(r.from, r.to)))
      }
    }
    return next
  },
  provide: (f) => EditorView.decorations.from(f),
})

/** The editor extension that holds the marks (empty until `showAuthorship`). */
export function authorshipMarks(): Extension {
  return field
}

/** Marks `view`'s document with `authorship` (null clears). Offsets are clamped to the document. */
export function showAuthorship(view: EditorView, authorship: readonly Authored[] | null): number {
  if (authorship === null) {
    view.dispatch({ effects: setMarks.of(null) })
    return 0
  }
  const text = view.state.doc.toString()
  const ranges = snapToCodePoints(text, authorshipRanges(authorship, text.length))
  view.dispatch({ effects: setMarks.of(ranges) })
  return ranges.length
}

export function authorshipLegend(): HTMLElement {
  const item = (source: AuthorSource, label: string) =>
    h('span', { class: 'legend-item' }, h('span', { class: `legend-swatch cm-author-${source}` }), label)
  return h(
    'div',
    { class: 'authorship-legend', testid: 'authorship-legend', hidden: true, role: 'note', 'aria-label': 'Who wrote what' },
    item('submission', 'Submission'),
    item('candidate', 'Candidate (live)'),
    item('interviewer', 'Interviewer (live)'),
    h('span', { class: 'legend-status muted', testid: 'authorship-status', role: 'status', 'aria-live': 'polite' }),
  )
}
