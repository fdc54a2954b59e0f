// The files at a past moment of the live session, read-only, in place of the live editor.

import { EditorState } from '@codemirror/state'
import { EditorView } from '@codemirror/view'
import { formatClock } from '../lib/format'
import { h } from '../ui/dom'
import { LanguageSlot, baseSetup, readOnly } from '../ui/editor'

export class ReplayPane {
  readonly el: HTMLElement
  private readonly note = h('span', { class: 'replay-note', testid: 'replay-note' })
  private readonly host = h('div', { class: 'editor-host replay-host' })
  private readonly language = new LanguageSlot()
  private view: EditorView | null = null

  constructor(backToLive: () => void) {
    this.el = h(
      'div',
      { class: 'replay-pane', testid: 'replay', hidden: true },
      h(
        'div',
        { class: 'replay-bar', role: 'status' },
        this.note,
        h('button', { type: 'button', class: 'button small', testid: 'replay-live', on: { click: backToLive } }, 'Back to live'),
      ),
      this.host,
    )
  }

  /** Shows `path` as it was `atMs` after the room opened (`content` null: the file did not exist then). */
  show(path: string | null, content: string | null, atMs: number): void {
    const when = formatClock(atMs)
    this.note.textContent =
      path === null
        ? `Replay at ${when}: open a file to see it.`
        : content === null
          ? `Replay at ${when}: ${path} did not exist yet.`
          : `Replay at ${when}: ${path} as it was then (read-only).`
    this.el.dataset.atMs = String(atMs)
    const doc = content ?? ''
    if (this.view && this.view.state.doc.toString() === doc) return
    this.view?.destroy()
    this.view = new EditorView({
      parent: this.host,
      state: EditorState.create({ doc, extensions: [baseSetup(), readOnly(), this.language.initial(), EditorView.contentAttributes.of({ 'aria-label': `Replay: ${path ?? ''}` })] }),
    })
    if (path !== null) this.language.apply(this.view, path)
  }

  get editorView(): EditorView | null {
    return this.view
  }

  setVisible(visible: boolean): void {
    this.el.hidden = !visible
  }
}
