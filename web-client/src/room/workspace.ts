// The room's code area: file tree, tabs, the collaborative editor (yCollab on the open file's Y.Text)
// and the diff against the submission. Files that differ from the submission get a dot in the tree.

import { EditorState } from '@codemirror/state'
import { EditorView, keymap } from '@codemirror/view'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import * as Y from 'yjs'
import { ChangeTracker, type FileSource } from '../lib/changes'
import { buildTree, filesInTreeOrder } from '../lib/filetree'
import { pickInitialFile } from '../lib/language'
import type { Authored, RoomSession } from '../lib/types'
import { debounce, h } from '../ui/dom'
import { LanguageSlot, baseSetup, jumpToLines, readOnly } from '../ui/editor'
import { FileTree } from '../ui/tree'
import type { Connection } from './connection'
import { DiffPane } from './diff'
import { cursorLabels } from './cursor-labels'
import { AuthorshipLegend, authorshipMarks, showAuthorship } from './authorship'
import { ReplayPane } from './replay'

/** Re-check changed files this long after edits pause (a 2 MiB compare is a full read). */
const CHANGE_CHECK_MS = 500
/** With "Who wrote what" on, fetch it again this long after edits pause: the marks follow the session. */
const AUTHORSHIP_LIVE_MS = 1500

type Mode = 'code' | 'diff' | 'replay'

/** What only the interviewer's workspace gets: the session record. */
export interface WorkspaceRecord {
  /** Fetches who wrote what, per path (the export's authorship ranges). */
  loadAuthorship: () => Promise<Map<string, Authored[]>>
}

export class Workspace {
  readonly el: HTMLElement
  readonly tree: FileTree
  private readonly conn: Connection
  private readonly session: RoomSession
  private readonly submitted: Map<string, string>
  private readonly tracker: ChangeTracker
  private readonly editorHost = h('div', { class: 'editor-host', testid: 'editor' })
  private readonly placeholder = h('p', { class: 'placeholder muted', testid: 'editor-placeholder' }, 'Connecting to the room…')
  private readonly tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': 'Open files', testid: 'tabs' })
  private readonly modeButtons: Record<'code' | 'diff', HTMLButtonElement>
  private readonly diff = new DiffPane()
  private readonly view: EditorView
  private readonly language = new LanguageSlot()
  private readonly undoManagers = new Map<string, Y.UndoManager>()
  private readonly open: string[] = []
  private active: string | null = null
  private mode: Mode = 'code'
  private readonly checkChanges = debounce(() => this.flushChanges(), CHANGE_CHECK_MS)
  private readonly record: WorkspaceRecord | null
  private readonly replay: ReplayPane
  private replayFiles: Record<string, string> | null = null
  private replayAt = 0
  /** Called when the replay closes (Back to live, or a mode button). */
  onLive: () => void = () => {}
  private authorshipOn = false
  private authorship: Map<string, Authored[]> | null = null
  private authorshipRequest = 0
  private readonly legend = new AuthorshipLegend()
  private readonly authorshipSoon = debounce(() => this.refreshAuthorship(), AUTHORSHIP_LIVE_MS)

  constructor(conn: Connection, session: RoomSession, record: WorkspaceRecord | null = null) {
    this.record = session.you.role === 'interviewer' ? record : null
    this.replay = new ReplayPane(() => this.backToLive())
    this.conn = conn
    this.session = session
    this.submitted = new Map(session.submission_files.map((f) => [f.path, f.content]))
    this.tracker = new ChangeTracker(this.submitted)
    this.tree = new FileTree((path) => this.openFile(path))
    this.view = new EditorView({ parent: this.editorHost, state: EditorState.create({ doc: '', extensions: [readOnly()] }) })
    this.editorHost.hidden = true
    cursorLabels(conn.awareness, this.editorHost)
    const modeButton = (mode: 'code' | 'diff', label: string) =>
      h('button', { type: 'button', class: 'seg', 'aria-pressed': String(mode === 'code'), testid: `mode-${mode}`, on: { click: () => this.setMode(mode) } }, label)
    this.modeButtons = { code: modeButton('code', 'Code'), diff: modeButton('diff', 'Diff vs submission') }
    const authorButton = this.record
      ? h('button', { type: 'button', class: 'seg', 'aria-pressed': 'false', testid: 'authorship-toggle', title: 'Mark the open file by who wrote each part' }, 'Who wrote what')
      : null
    authorButton?.addEventListener('click', () => this.toggleAuthorship(authorButton))
    this.el = h(
      'section',
      { class: 'workspace', 'aria-label': 'Code' },
      h(
        'div',
        { class: 'editor-toolbar' },
        this.tabs,
        h(
          'div',
          { class: 'toolbar-end' },
          authorButton ? h('div', { class: 'segmented', role: 'group', 'aria-label': 'Authorship' }, authorButton) : null,
          h('div', { class: 'segmented', role: 'group', 'aria-label': 'View' }, this.modeButtons.code, this.modeButtons.diff),
        ),
      ),
      this.record ? this.legend.el : null,
      h('div', { class: 'editor-stack' }, this.placeholder, this.editorHost, this.diff.el, this.replay.el),
      // Tab indents in the editor, so keyboard users need to know the way out.
      h('p', { class: 'editor-hint muted', testid: 'editor-hint' }, 'Tab indents. To leave the editor, press ', h('kbd', null, 'Esc'), ' then ', h('kbd', null, 'Tab'), '.'),
    )
    if (this.record) this.conn.doc.on('update', () => this.authorshipOn && this.authorshipSoon())
    this.expose()

    // Every update that touches a file marks it for the (debounced) changed-file check.
    this.conn.files.observeDeep((events) => {
      let keysMoved = false
      for (const ev of events) {
        if (ev.target === this.conn.files) {
          keysMoved = true
          for (const key of (ev as Y.YMapEvent<Y.Text>).keysChanged) this.tracker.touch(key)
        } else {
          const key = ev.path[0]
          if (typeof key === 'string') {
            this.tracker.touch(key)
            this.diff.changed(key)
          }
        }
      }
      if (keysMoved) this.filesMoved()
      this.checkChanges()
    })
  }

  get readOnly(): boolean {
    return this.session.you.role === 'observer'
  }

  /** The doc has its files (first sync): list them and open one. */
  ready(): void {
    this.tracker.touchAll(this.conn.files.keys())
    this.flushChanges()
    this.filesMoved()
    if (this.active === null) {
      const order = filesInTreeOrder(buildTree(this.conn.files.keys()))
      const first = pickInitialFile(order, this.session.exercise.language)
      if (first) this.openFile(first)
      else this.placeholder.textContent = 'This room has no files.'
    }
  }

  /** Opens a file (switching to the code view) and selects `lines`, as flags and evidence ask. */
  jump(path: string, lines?: [number, number]): void {
    if (this.mode !== 'code') this.setMode('code')
    this.openFile(path)
    jumpToLines(this.view, lines)
  }

  has(path: string): boolean {
    return this.conn.files.has(path) || this.submitted.has(path)
  }

  private filesMoved(): void {
    this.tree.setPaths(this.conn.files.keys())
    if (this.active !== null && !this.conn.files.has(this.active)) this.showActive()
  }

  openFile(path: string): void {
    if (!this.has(path)) return
    if (!this.open.includes(path)) this.open.push(path)
    if (this.active !== path) {
      this.active = path
      this.showActive()
    }
    this.renderTabs()
    this.tree.setActive(path)
  }

  private closeTab(path: string): void {
    const i = this.open.indexOf(path)
    if (i < 0) return
    this.open.splice(i, 1)
    if (this.active === path) {
      const next = this.open[Math.min(i, this.open.length - 1)] ?? null
      this.active = null
      if (next) this.openFile(next)
      else {
        this.showActive()
        this.tree.setActive(null)
      }
    }
    this.renderTabs()
  }

  private showActive(): void {
    const path = this.active
    const ytext = path === null ? undefined : this.conn.files.get(path)
    if (path === null || !(ytext instanceof Y.Text)) {
      this.view.setState(EditorState.create({ doc: '', extensions: [readOnly()] }))
      this.editorHost.hidden = true
      this.placeholder.hidden = this.mode === 'replay'
      this.placeholder.textContent = path === null ? 'Open a file from the tree.' : `${path} was deleted since the submission. Its diff shows what it held.`
    } else {
      let undo = this.undoManagers.get(path)
      if (!undo) {
        undo = new Y.UndoManager(ytext)
        this.undoManagers.set(path, undo)
      }
      this.view.setState(
        EditorState.create({
          doc: ytext.toString(),
          extensions: [
            keymap.of(yUndoManagerKeymap),
            baseSetup(),
            this.language.initial(),
            yCollab(ytext, this.conn.awareness, { undoManager: undo }),
            this.record ? authorshipMarks() : [],
            this.readOnly ? readOnly() : [],
            EditorView.contentAttributes.of({ 'aria-label': `Editor: ${path}` }),
          ],
        }),
      )
      this.language.apply(this.view, path)
      this.placeholder.hidden = true
      this.editorHost.hidden = this.mode !== 'code'
      this.markAuthorship()
    }
    if (this.mode === 'diff') this.showDiff()
    if (this.mode === 'replay') this.showReplayFile()
    this.expose()
  }

  private setMode(mode: Mode): void {
    const wasReplay = this.mode === 'replay'
    this.mode = mode
    for (const [m, b] of Object.entries(this.modeButtons)) b.setAttribute('aria-pressed', String(m === mode))
    const hasText = this.active !== null && this.conn.files.get(this.active) instanceof Y.Text
    this.editorHost.hidden = mode !== 'code' || !hasText
    this.placeholder.hidden = mode !== 'code' || hasText
    if (mode === 'diff') this.showDiff()
    else this.diff.setVisible(false)
    this.replay.setVisible(mode === 'replay')
    if (mode === 'replay') this.showReplayFile()
    else {
      this.replayFiles = null
      if (wasReplay) this.onLive()
    }
    this.expose()
  }

  /** Shows the open file as it was `atMs` after the room opened (read-only), in place of the editor. */
  showReplay(files: Record<string, string>, atMs: number): void {
    this.replayFiles = files
    this.replayAt = atMs
    if (this.mode !== 'replay') this.setMode('replay')
    else this.showReplayFile()
  }

  /** Leaves the replay for the live editor. */
  backToLive(): void {
    if (this.mode === 'replay') this.setMode('code')
  }

  get replaying(): boolean {
    return this.mode === 'replay'
  }

  private showReplayFile(): void {
    const files = this.replayFiles ?? {}
    const path = this.active
    this.replay.show(path, path !== null && Object.hasOwn(files, path) ? files[path] : null, this.replayAt)
    this.expose()
  }

  private toggleAuthorship(button: HTMLElement): void {
    this.authorshipOn = !this.authorshipOn
    button.setAttribute('aria-pressed', String(this.authorshipOn))
    this.legend.el.hidden = !this.authorshipOn
    if (this.authorshipOn) this.refreshAuthorship()
    else {
      this.authorshipSoon.cancel()
      this.authorship = null
      showAuthorship(this.view, null)
    }
  }

  /** Fetches who wrote what again and re-marks the open file (when the toggle is on). */
  refreshAuthorship(): void {
    if (!this.record || !this.authorshipOn) return
    const status = this.legend.status
    const request = ++this.authorshipRequest
    // A first load says so; the live refreshes after that stay quiet.
    if (this.authorship === null) status.textContent = 'Loading…'
    this.record.loadAuthorship().then(
      (byPath) => {
        if (request !== this.authorshipRequest || !this.authorshipOn) return
        this.authorship = byPath
        status.textContent = ''
        this.markAuthorship()
      },
      (e: unknown) => {
        if (request !== this.authorshipRequest) return
        status.textContent = `Could not load: ${e instanceof Error ? e.message : String(e)}`
      },
    )
  }

  private markAuthorship(): void {
    if (!this.record) return
    const ranges = this.authorshipOn && this.active !== null ? (this.authorship?.get(this.active) ?? null) : null
    this.legend.people(showAuthorship(this.view, ranges))
  }

  /** Calls `fn` on every edit and every join or leave. */
  onActivity(fn: () => void): void {
    this.conn.doc.on('update', fn)
    this.conn.awareness.on('change', ({ added, removed }: { added: number[]; removed: number[] }) => {
      if (added.length > 0 || removed.length > 0) fn()
    })
  }

  /** The open file and the caret's 1-based line (null while no live file is shown). */
  caret(): { file: string | null; line: number | null } {
    if (this.active === null || this.editorHost.hidden) return { file: this.active, line: null }
    const state = this.view.state
    return { file: this.active, line: state.doc.lineAt(state.selection.main.head).number }
  }

  private showDiff(): void {
    const path = this.active
    if (path === null) {
      this.diff.setVisible(false)
      return
    }
    this.diff.show(path, this.submitted.get(path), () => this.conn.files.get(path)?.toString() ?? null)
    this.diff.setVisible(true)
  }

  private renderTabs(): void {
    this.tabs.replaceChildren(
      ...this.open.map((path) => {
        const selected = path === this.active
        const name = path.slice(path.lastIndexOf('/') + 1)
        const change = this.tracker.changes.get(path)
        return h(
          'div',
          { class: `tab${selected ? ' active' : ''}`, testid: 'tab', 'data-path': path },
          h(
            'button',
            { type: 'button', class: 'tab-open', 'aria-current': selected ? 'true' : undefined, title: path, on: { click: () => this.openFile(path) } },
            name,
            change ? h('span', { class: `change-dot ${change}`, 'aria-label': 'changed' }) : null,
          ),
          h('button', { type: 'button', class: 'tab-close', 'aria-label': `Close ${path}`, on: { click: () => this.closeTab(path) } }, '×'),
        )
      }),
    )
  }

  private flushChanges(): void {
    const files = this.conn.files
    const source: FileSource = {
      has: (p) => files.get(p) instanceof Y.Text,
      length: (p) => files.get(p)?.length ?? 0,
      read: (p) => files.get(p)?.toString() ?? '',
    }
    if (this.tracker.flush(source)) {
      this.tree.setChanges(new Map(this.tracker.changes))
      this.renderTabs()
    }
  }

  /** For the end-to-end test and debugging: the live view and doc. */
  private expose(): void {
    ;(window as unknown as { __handoff: unknown }).__handoff = {
      view: this.view,
      doc: this.conn.doc,
      provider: this.conn.provider,
      diffView: this.diff.editorView,
      replayView: this.replay.editorView,
      activePath: this.active,
      mode: this.mode,
    }
  }
}
