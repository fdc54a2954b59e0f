// The review of an ended room, for the interviewer (by the interviewer's link, or from the dashboard):
// the final files with their diff and who wrote what, the replay, notes (still editable), live scores,
// the async context, "Download report", and "Reopen" while the reopen window lasts. Read-only code:
// nothing here connects to the room.

import { EditorState } from '@codemirror/state'
import { EditorView } from '@codemirror/view'
import { api, type Client } from '../lib/api'
import { changeOf, type ChangeKind } from '../lib/changes'
import { formatDateTime } from '../lib/format'
import { interviewApi, promoteOnEnded, reopenable, roomStateText, type IntegrityNote, type InterviewSession } from '../lib/interview'
import type { ExportFile, PrivatePanel, RoomExport } from '../lib/types'
import { clear, h } from '../ui/dom'
import { LanguageSlot, baseSetup, readOnly } from '../ui/editor'
import { integritySection, scorecardSection, timelineSection } from '../ui/insights'
import { showMessagePage } from '../ui/pages'
import { jwtClaims, roomTokenKey } from '../lib/token'
import { FileTree } from '../ui/tree'
import { AuthorshipLegend, authorshipMarks, showAuthorship } from './authorship'
import { DiffPane } from './diff'
import { candidateNotesSection } from './integrity-notes'
import { NotesSaver } from './notes'
import { questionsPanel } from './questions'
import { recordSections, type RecordTarget } from './record'
import { ReplayPane } from './replay'
import { reportButton } from './report'

type Mode = 'code' | 'diff' | 'replay'

/** The final files, read-only: code marked by who wrote it, its diff, or the replay at a moment. */
class ReviewViewer implements RecordTarget {
  readonly el: HTMLElement
  readonly tree: FileTree
  onLive: () => void = () => {}
  /** A review does not change: nothing happens in an ended room. */
  onActivity(_fn: () => void): void {}
  private readonly files: Map<string, ExportFile>
  private readonly submitted: Map<string, string>
  private readonly title = h('div', { class: 'editor-title', testid: 'review-path' }, 'No file open')
  private readonly host = h('div', { class: 'editor-host', testid: 'editor' })
  private readonly code: EditorView
  private readonly language = new LanguageSlot()
  private readonly diff = new DiffPane()
  private readonly replay = new ReplayPane(() => this.backToLive())
  private readonly legend = new AuthorshipLegend()
  private readonly modeButtons: Record<'code' | 'diff', HTMLButtonElement>
  private mode: Mode = 'code'
  private active: string | null = null
  private replayFiles: Record<string, string> = {}
  private replayAt = 0

  constructor(exported: RoomExport, submitted: Map<string, string>) {
    this.files = new Map(exported.files.map((f) => [f.path, f]))
    this.submitted = submitted
    this.tree = new FileTree((path) => this.openFile(path))
    this.tree.setPaths([...this.files.keys()])
    const changes = new Map<string, ChangeKind>()
    for (const f of exported.files) {
      const kind = f.change === 'deleted' ? 'deleted' : changeOf(f.content, submitted.get(f.path))
      if (kind) changes.set(f.path, kind)
    }
    this.tree.setChanges(changes)
    this.code = new EditorView({ parent: this.host, state: this.state('') })
    this.legend.el.hidden = false
    const modeButton = (mode: 'code' | 'diff', label: string) =>
      h('button', { type: 'button', class: 'button small', testid: `mode-${mode}`, 'aria-pressed': String(mode === 'code'), on: { click: () => this.setMode(mode) } }, label)
    this.modeButtons = { code: modeButton('code', 'Who wrote what'), diff: modeButton('diff', 'Diff') }
    this.el = h(
      'div',
      { class: 'editor-pane review-pane' },
      h('div', { class: 'editor-head' }, this.title, h('span', { class: 'spacer' }), this.modeButtons.code, this.modeButtons.diff),
      this.legend.el,
      this.host,
      this.diff.el,
      this.replay.el,
    )
    ;(window as unknown as { __handoff: unknown }).__handoff = { view: this.code }
  }

  private state(doc: string): EditorState {
    return EditorState.create({ doc, extensions: [baseSetup(), readOnly(), this.language.initial(), authorshipMarks()] })
  }

  has(path: string): boolean {
    return this.files.has(path)
  }

  openFile(path: string): void {
    const file = this.files.get(path)
    if (!file) return
    this.active = path
    this.tree.setActive(path)
    this.title.textContent = path
    this.code.setState(this.state(file.content))
    this.language.apply(this.code, path)
    this.legend.people(showAuthorship(this.code, file.authorship))
    this.render()
  }

  jump(path: string): void {
    this.openFile(path)
  }

  get replaying(): boolean {
    return this.mode === 'replay'
  }

  showReplay(files: Record<string, string>, atMs: number): void {
    this.replayFiles = files
    this.replayAt = atMs
    this.mode = 'replay'
    this.render()
  }

  backToLive(): void {
    if (this.mode !== 'replay') return
    this.mode = 'code'
    this.render()
    this.onLive()
  }

  refreshAuthorship(): void {
    // The files are final: their authorship was read once, with the export.
  }

  private setMode(mode: 'code' | 'diff'): void {
    this.mode = mode
    this.render()
  }

  private render(): void {
    const path = this.active
    const file = path === null ? undefined : this.files.get(path)
    for (const [m, b] of Object.entries(this.modeButtons)) b.setAttribute('aria-pressed', String(m === this.mode))
    this.host.hidden = this.mode !== 'code'
    this.legend.el.hidden = this.mode !== 'code'
    this.diff.setVisible(this.mode === 'diff')
    this.replay.setVisible(this.mode === 'replay')
    if (this.mode === 'diff' && path !== null && file) {
      this.diff.show(path, this.submitted.get(path), () => (file.change === 'deleted' ? null : file.content))
    }
    if (this.mode === 'replay') {
      this.replay.show(path, path !== null && Object.hasOwn(this.replayFiles, path) ? (this.replayFiles[path] ?? null) : null, this.replayAt)
    }
  }
}

/** Shows the review of an ended room in `root`; `reopened` runs once the interviewer reopens it. */
export function showReview(root: HTMLElement, client: Client, session: InterviewSession, reopened: () => void): void {
  const roomId = session.room.id
  document.title = `${session.exercise.title} · review · handoff`
  Promise.all([api.exportRoom(client, roomId), api.privatePanel(client, roomId)]).then(
    ([exported, panel]) => mount(root, client, session, exported, panel, reopened),
    (e: unknown) =>
      showMessagePage(root, {
        title: 'Could not open the review',
        body: `${e instanceof Error ? e.message : String(e)} Reload to try again.`,
        testid: 'room-error',
        tone: 'error',
      }),
  )
}

type ReviewPanel = PrivatePanel & { integrity_notes?: IntegrityNote[] }

function mount(root: HTMLElement, client: Client, session: InterviewSession, exported: RoomExport, panel: ReviewPanel, reopened: () => void): void {
  const roomId = session.room.id
  const submitted = new Map(session.submission_files.map((f) => [f.path, f.content]))
  const viewer = new ReviewViewer(exported, submitted)
  const target = { jump: (file: string) => viewer.jump(file), has: (file: string) => viewer.has(file) }
  const record = recordSections({ client, roomId, target: viewer, reportHere: false }, panel.scorecard, panel.live_scores ?? [])
  const status = h('span', { class: 'badge ended', testid: 'review-status' }, roomStateText(session.state, session.now_ms ?? Date.now(), formatDateTime))
  const sidebar = h('aside', { class: 'sidebar' }, h('h2', { class: 'side-title' }, 'Files'), viewer.tree.el)
  const notes = notesSection(client, roomId, panel.notes)
  const side = h(
    'aside',
    { class: 'private-panel', testid: 'private-panel', 'aria-labelledby': 'review-h' },
    h('div', { class: 'private-head' }, h('h2', { id: 'review-h' }, 'Review')),
    h(
      'div',
      { class: 'private-body' },
      notes,
      record.scores,
      record.session,
      reviewQuestions(client, roomId),
      integritySection(panel.integrity_summary, panel.integrity, target),
      candidateNotesSection(panel.integrity_summary.flags, panel.integrity_notes),
      scorecardSection(panel.scorecard, target),
      h('details', { class: 'panel-section collapsible' }, h('summary', null, `Async timeline (${panel.events.length} events)`), timelineSection(panel.events, target)),
    ),
  )
  clear(root)
  root.append(
    h(
      'div',
      { class: 'app room-app role-interviewer review-app', testid: 'review', 'data-role': 'interviewer' },
      h(
        'header',
        { class: 'topbar' },
        h('a', { class: 'brand', href: '/' }, 'handoff'),
        h('span', { class: 'topbar-title' }, h('strong', null, session.exercise.title), h('span', { class: 'muted' }, ` · ${session.candidate.name}`)),
        status,
        h('span', { class: 'spacer' }),
        reportButton(client, roomId, { small: false }),
        reopenable(session.state, session.now_ms ?? Date.now()) ? reopenButton(() => reopen(client, session, exported, reopened)) : null,
        h('a', { class: 'button ghost', href: '/', testid: 'back-to-dashboard' }, 'Dashboard'),
      ),
      h('p', { class: 'banner', role: 'note', testid: 'review-banner' }, 'This interview has ended. You are reviewing its record: the code is read-only, your notes and scores can still be changed.'),
      h('div', { class: 'room-body with-private' }, sidebar, viewer.el, side),
    ),
  )
  const first = exported.files.find((f) => f.change !== 'unchanged' && f.change !== 'deleted') ?? exported.files[0]
  if (first) viewer.openFile(first.path)
}

/** The questions pushed during the call, as a section of the review's panel. */
function reviewQuestions(client: Client, roomId: string): HTMLElement {
  const el = questionsPanel(client, roomId, false).el
  el.className = 'panel-section questions-pane'
  return el
}

function notesSection(client: Client, roomId: string, initial: string): HTMLElement {
  const status = h('span', { class: 'notes-status muted', role: 'status', 'aria-live': 'polite', testid: 'notes-status' })
  const area = h('textarea', { id: 'private-notes', class: 'notes', rows: 5, placeholder: 'Only you can see these notes.', testid: 'notes' })
  area.value = initial
  const saver = new NotesSaver((notes) => api.saveNotes(client, roomId, notes).then(() => undefined), (s) => {
    status.dataset.state = s.state
    status.textContent = s.text
  })
  area.addEventListener('input', () => saver.edit(area.value))
  area.addEventListener('blur', () => saver.flush())
  return h('section', { class: 'panel-section' }, h('div', { class: 'notes-head' }, h('label', { for: 'private-notes' }, h('h2', null, 'Private notes')), status), area)
}

/**
 * Reopens the room. With the interviewer's room token the page then opens the live room; with the
 * dashboard's credential (which cannot join a room's socket) a promote of the submission reopens it and
 * answers with a fresh interviewer token, which the page keeps for the room and opens it with.
 */
async function reopen(client: Client, session: InterviewSession, exported: RoomExport, reopened: () => void): Promise<void> {
  const roomToken = client.credential !== null && jwtClaims(client.credential)?.room !== undefined
  const submissionId = (exported as RoomExport & { submission_id?: string }).submission_id
  if (roomToken || submissionId === undefined) {
    await interviewApi.reopen(client, session.room.id)
    reopened()
    return
  }
  const p = await promoteOnEnded(client, submissionId, session.you.name, 'reopen')
  // The interviewer's fresh token, where the room page looks for it; the page then opens the live room.
  sessionStorage.setItem(roomTokenKey(session.room.id), p.tokens.interviewer)
  reopened()
}

function reopenButton(reopenRoom: () => Promise<void>): HTMLElement {
  const button = h('button', { type: 'button', class: 'button primary', testid: 'reopen-room' }, 'Reopen')
  button.addEventListener('click', () => {
    if (!window.confirm('Reopen this interview? The candidate and observer links work again until you end it.')) return
    button.disabled = true
    reopenRoom().catch((e: unknown) => {
      button.disabled = false
      window.alert(`Could not reopen the room: ${e instanceof Error ? e.message : String(e)}`)
    })
  })
  return button
}

