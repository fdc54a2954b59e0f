// CodeMirror building blocks shared by the dashboard's viewer and the room's editors.

import { defaultKeymap, indentWithTab } from '@codemirror/commands'
import { bracketMatching, foldGutter, indentOnInput, syntaxHighlighting } from '@codemirror/language'
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search'
import { Compartment, EditorSelection, EditorState, type Extension } from '@codemirror/state'
import {
  EditorView,
  crosshairCursor,
  drawSelection,
  dropCursor,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection,
} from '@codemirror/view'
import { languageForPath } from '../lib/language'
import { themedHighlightStyle } from './highlight'
import { loadLanguage } from './languages'

/**
 * The editor chrome, without history: the room's undo belongs to Y.UndoManager (so one person's undo
 * never reverts another's typing), and read-only views need none.
 */
export function baseSetup(): Extension[] {
  return [
    lineNumbers(),
    highlightActiveLineGutter(),
    highlightSpecialChars(),
    foldGutter(),
    drawSelection(),
    dropCursor(),
    EditorState.allowMultipleSelections.of(true),
    indentOnInput(),
    syntaxHighlighting(themedHighlightStyle),
    bracketMatching(),
    rectangularSelection(),
    crosshairCursor(),
    highlightActiveLine(),
    highlightSelectionMatches(),
    // Tab indents, as a code editor should; Escape then Tab still moves focus out (CodeMirror's rule).
    keymap.of([...defaultKeymap, ...searchKeymap, indentWithTab]),
    editorTheme,
  ]
}

export const editorTheme = EditorView.theme({
  '&': { height: '100%', fontSize: 'var(--editor-font-size, 13.5px)', backgroundColor: 'var(--editor-bg)', color: 'var(--text)' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--text)' },
  '.cm-activeLine': { backgroundColor: 'var(--editor-active-line)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--editor-active-line)' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground': { backgroundColor: 'var(--editor-selection)' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.5' },
  // Room above the first line for a remote cursor's name label.
  '.cm-content': { paddingTop: '12px' },
  '.cm-gutters': { backgroundColor: 'var(--editor-gutter)', borderRight: '1px solid var(--line)', color: 'var(--muted)' },
  '&.cm-focused': { outline: '2px solid rgba(36, 86, 200, 0.35)', outlineOffset: '-2px' },
})

export function readOnly(): Extension {
  return [EditorState.readOnly.of(true)]
}

/** Holds a view's language so it can be swapped once the (lazily loaded) package arrives. */
export class LanguageSlot {
  private readonly compartment = new Compartment()
  private wanted = ''

  initial(): Extension {
    return this.compartment.of([])
  }

  /** Loads the language for `path` and applies it, unless the view moved on to another file meanwhile. */
  apply(view: EditorView, path: string): void {
    this.wanted = path
    const id = languageForPath(path)
    if (id === null) {
      view.dispatch({ effects: this.compartment.reconfigure([]) })
      return
    }
    loadLanguage(id)
      .then((ext) => {
        if (this.wanted === path) view.dispatch({ effects: this.compartment.reconfigure(ext) })
      })
      .catch(() => {
        // Highlighting is a nicety: without its chunk the file still shows as plain text.
      })
  }
}

/** Selects lines `first..last` (1-based, clamped to the document) and scrolls them to the middle. */
export function jumpToLines(view: EditorView, lines: readonly [number, number] | undefined, focus = true): void {
  const doc = view.state.doc
  if (lines) {
    const first = Math.min(Math.max(1, lines[0]), doc.lines)
    const last = Math.min(Math.max(first, lines[1]), doc.lines)
    const from = doc.line(first).from
    const to = doc.line(last).to
    view.dispatch({
      selection: EditorSelection.single(from, to),
      effects: EditorView.scrollIntoView(from, { y: 'center' }),
    })
  }
  if (focus) view.focus()
}
