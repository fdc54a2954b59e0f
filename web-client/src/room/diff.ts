// The diff of one file against the frozen submission (unified, read-only). It follows live edits, but
// only after typing pauses, so a large file is not re-diffed on every keystroke.

import { unifiedMergeView } from '@codemirror/merge'
import { EditorState } from '@codemirror/state'
import { EditorView } from '@codemirror/view'
import { debounce, h } from '../ui/dom'
import { LanguageSlot, baseSetup, readOnly } from '../ui/editor'

/** Bounds the diff's work: past these it falls back to a coarser (still correct) diff. */
const DIFF_CONFIG = { scanLimit: 500, timeout: 200 }
/** Wait this long after the last edit before re-diffing. */
const REFRESH_MS = 300

export class DiffPane {
  readonly el: HTMLElement
  private readonly host: HTMLElement
  private readonly note: HTMLElement
  private view: EditorView | null = null
  private readonly language = new LanguageSlot()
  private path: string | null = null
  private submitted: string | undefined
  private current: () => string | null = () => null
  private readonly refreshSoon = debounce(() => this.refresh(), REFRESH_MS)

  constructor() {
    this.note = h('p', { class: 'diff-note muted', testid: 'diff-note' })
    this.host = h('div', { class: 'editor-host diff-host' })
    this.el = h('div', { class: 'diff-pane', testid: 'diff', hidden: true }, this.note, this.host)
  }

  /**
   * Shows `path`: `submitted` is its frozen content (undefined when the file is new), `current` reads
   * its live content (null when it was deleted).
   */
  show(path: string, submitted: string | undefined, current: () => string | null): void {
    this.path = path
    this.submitted = submitted
    this.current = current
    this.refreshSoon.cancel()
    const now = current()
    this.describe(now)
    this.view?.destroy()
    this.view = new EditorView({
      parent: this.host,
      state: EditorState.create({
        doc: now ?? '',
        extensions: [
          baseSetup(),
          readOnly(),
          this.language.initial(),
          unifiedMergeView({
            original: submitted ?? '',
            mergeControls: false,
            diffConfig: DIFF_CONFIG,
            collapseUnchanged: { margin: 3, minSize: 8 },
          }),
        ],
      }),
    })
    this.language.apply(this.view, path)
  }

  private describe(now: string | null): void {
    const path = this.path ?? ''
    this.note.textContent =
      this.submitted === undefined
        ? `${path} is new: it was not in the submission.`
        : now === null
          ? `${path} was deleted since the submission.`
          : now === this.submitted
            ? `${path} is unchanged since the submission.`
            : `Changes to ${path} since the submission: red was submitted, green is now.`
  }

  /** The shown file changed: re-diff once edits pause. */
  changed(path: string): void {
    if (path === this.path && !this.el.hidden) this.refreshSoon()
  }

  private refresh(): void {
    const view = this.view
    if (!view || this.el.hidden) return
    const now = this.current()
    this.describe(now)
    const next = now ?? ''
    const prev = view.state.doc.toString()
    if (next === prev) return
    // Replace only the middle that differs, so the view keeps its scroll position.
    let start = 0
    const max = Math.min(prev.length, next.length)
    while (start < max && prev.charCodeAt(start) === next.charCodeAt(start)) start++
    let endPrev = prev.length
    let endNext = next.length
    while (endPrev > start && endNext > start && prev.charCodeAt(endPrev - 1) === next.charCodeAt(endNext - 1)) {
      endPrev--
      endNext--
    }
    view.dispatch({ changes: { from: start, to: endPrev, insert: next.slice(start, endNext) } })
  }

  setVisible(visible: boolean): void {
    this.el.hidden = !visible
    if (visible) this.refresh()
  }

  get visible(): boolean {
    return !this.el.hidden
  }

  get editorView(): EditorView | null {
    return this.view
  }

  destroy(): void {
    this.refreshSoon.cancel()
    this.view?.destroy()
    this.view = null
  }
}
