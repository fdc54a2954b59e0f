// The interviewer-only panel: tabs for private notes, live scores, the async context (integrity flags
// and the scorecard pinned to code, the async timeline) and the live session record (timeline and
// replay), each scrolling on its own so none pushes another below the fold; "Mark moment"; End room.
// Fetched only for the interviewer (the server refuses everyone else), and never put in the shared doc.

import { api, type Client } from '../lib/api'
import type { IntegrityNote } from '../lib/interview'
import { appendMoment } from '../lib/rubric'
import type { PrivatePanel } from '../lib/types'
import { h } from '../ui/dom'
import { integritySection, scorecardSection, timelineSection, type JumpTarget } from '../ui/insights'
import { tabs } from '../ui/tabs'
import { candidateNotesSection } from './integrity-notes'
import { NotesSaver } from './notes'
import { recordSections, type RecordSections, type RecordTarget } from './record'

/** The "mark this moment" shortcut, as `aria-keyshortcuts` and the button's title say it. */
export const MARK_SHORTCUT = 'Control+Shift+M'

export interface PrivateContext {
  client: Client
  roomId: string
  target: JumpTarget
  /** The code area, for the replay and the authorship marks. */
  record: RecordTarget
  /** The open file and the 1-based line of the caret, for "mark this moment". */
  caret: () => { file: string | null; line: number | null }
  /** The room ended (the End button's call succeeded). */
  ended: () => void
}

/** Ctrl+Shift+M, or Cmd+Shift+M on a Mac: no editor or browser binding of ours uses it. */
export function isMarkKey(ev: KeyboardEvent): boolean {
  return ev.shiftKey && !ev.altKey && (ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === 'm'
}

export function privatePanel(ctx: PrivateContext): HTMLElement {
  // Notes typed just before End room must be saved before the room closes.
  const notes: { saver: NotesSaver | null } = { saver: null }
  const mark = h(
    'button',
    { type: 'button', class: 'button small', testid: 'mark-moment', 'aria-keyshortcuts': MARK_SHORTCUT, title: 'Add a note citing this moment (Ctrl+Shift+M, ⌘⇧M on a Mac)' },
    'Mark moment',
  )
  const body = h('div', { class: 'private-body' }, h('p', { class: 'loading' }, 'Loading the async context…'))
  const panel = h(
    'aside',
    { class: 'private-panel', testid: 'private-panel', 'aria-labelledby': 'private-h' },
    h(
      'div',
      { class: 'private-head' },
      h('h2', { id: 'private-h' }, 'Interviewer only'),
      h('span', { class: 'private-actions' }, mark, endButton(ctx, () => notes.saver?.settle() ?? Promise.resolve())),
    ),
    body,
  )
  api.privatePanel(ctx.client, ctx.roomId).then(
    (p) => {
      const section = notesSection(ctx, p.notes)
      notes.saver = section.saver
      const record = recordSections({ client: ctx.client, roomId: ctx.roomId, target: ctx.record }, p.scorecard, p.live_scores ?? [])
      const t = tabs('Interviewer panel', [
        { id: 'notes', label: 'Notes', panel: section.el },
        { id: 'scores', label: 'Scores', panel: record.scores },
        { id: 'context', label: 'Context', panel: contextPanel(ctx, p) },
        { id: 'record', label: 'Record', panel: record.session },
      ])
      body.replaceChildren(t.el)
      const markMoment = () => {
        t.select('notes')
        void markInNotes(ctx, record, section.area, section.saver)
      }
      mark.addEventListener('click', markMoment)
      // Capture phase: the key works wherever focus is, the editor included, before it sees the key.
      document.addEventListener(
        'keydown',
        (ev) => {
          if (!isMarkKey(ev) || !panel.isConnected) return
          ev.preventDefault()
          ev.stopPropagation()
          markMoment()
        },
        true,
      )
    },
    (e: unknown) =>
      body.replaceChildren(h('p', { class: 'error-text', role: 'alert' }, `Could not load the private panel: ${e instanceof Error ? e.message : String(e)}`)),
  )
  return panel
}

/** Appends "[12:30 · lru.py:19] " to the notes, saves, and leaves the caret after it to type the rest. */
async function markInNotes(ctx: PrivateContext, record: RecordSections, area: HTMLTextAreaElement, saver: NotesSaver): Promise<void> {
  const caret = ctx.caret()
  const elapsedMs = await record.currentMoment()
  area.value = appendMoment(area.value, { elapsedMs, file: caret.file, line: caret.line })
  saver.edit(area.value)
  area.focus()
  area.setSelectionRange(area.value.length, area.value.length)
  area.scrollTop = area.scrollHeight
}

function contextPanel(ctx: PrivateContext, p: PrivatePanel): HTMLElement {
  return h(
    'div',
    { class: 'context-panel' },
    integritySection(p.integrity_summary, p.integrity, ctx.target),
    ...[candidateNotesSection(p.integrity_summary.flags, (p as { integrity_notes?: IntegrityNote[] }).integrity_notes)].filter((e) => e !== null),
    scorecardSection(p.scorecard, ctx.target),
    h('details', { class: 'panel-section collapsible' }, h('summary', null, `Async timeline (${p.events.length} events)`), timelineSection(p.events, ctx.target)),
    h(
      'p',
      { class: 'panel-section muted api-link' },
      'This room over the API (export, timeline, report): ',
      h('a', { href: '/api/v1/openapi.json', testid: 'room-openapi-link', target: '_blank', rel: 'noopener' }, 'REST API (OpenAPI 3.1)'),
    ),
  )
}

function notesSection(ctx: PrivateContext, initial: string): { el: HTMLElement; saver: NotesSaver; area: HTMLTextAreaElement } {
  const status = h('span', { class: 'notes-status muted', role: 'status', 'aria-live': 'polite', testid: 'notes-status' })
  const area = h('textarea', {
    id: 'private-notes',
    class: 'notes',
    rows: 12,
    placeholder: 'Only you can see these notes. Ctrl+Shift+M (⌘⇧M) adds the current moment.',
    testid: 'notes',
  })
  area.value = initial
  const saver = new NotesSaver((notes) => api.saveNotes(ctx.client, ctx.roomId, notes).then(() => undefined), (s) => {
    status.dataset.state = s.state
    status.textContent = s.text
  })
  area.addEventListener('input', () => saver.edit(area.value))
  area.addEventListener('blur', () => saver.flush())
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') saver.flush()
  })
  const el = h(
    'section',
    { class: 'panel-section notes-section' },
    h('div', { class: 'notes-head' }, h('label', { for: 'private-notes' }, h('h2', null, 'Private notes')), status),
    area,
  )
  return { el, saver, area }
}

function endButton(ctx: PrivateContext, saveNotes: () => Promise<void>): HTMLElement {
  const button = h('button', { type: 'button', class: 'button danger small', testid: 'end-room' }, 'End room')
  button.addEventListener('click', () => {
    if (!window.confirm('End this interview for everyone? The candidate and observers are disconnected and their links stop working.')) return
    button.disabled = true
    button.textContent = 'Ending…'
    saveNotes()
      .then(() => api.endRoom(ctx.client, ctx.roomId))
      .then(
        () => ctx.ended(),
        (e: unknown) => {
          button.disabled = false
          button.textContent = 'End room'
          window.alert(`Could not end the room: ${e instanceof Error ? e.message : String(e)}`)
        },
      )
  })
  return button
}
