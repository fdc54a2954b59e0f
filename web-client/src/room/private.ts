// The interviewer-only panel: integrity flags and the scorecard pinned to code, private notes, live scores,
// the live session record (timeline and replay), End room.
// Fetched only for the interviewer (the server refuses everyone else), and never put in the shared doc.

import { api, type Client } from '../lib/api'
import type { IntegrityNote } from '../lib/interview'
import type { PrivatePanel } from '../lib/types'
import { h } from '../ui/dom'
import { integritySection, scorecardSection, timelineSection, type JumpTarget } from '../ui/insights'
import { candidateNotesSection } from './integrity-notes'
import { NotesSaver } from './notes'
import { recordSections, type RecordTarget } from './record'

export interface PrivateContext {
  client: Client
  roomId: string
  target: JumpTarget
  /** The code area, for the replay and the authorship marks. */
  record: RecordTarget
  /** The room ended (the End button's call succeeded). */
  ended: () => void
}

export function privatePanel(ctx: PrivateContext): HTMLElement {
  // Notes typed just before End room must be saved before the room closes.
  const notes: { saver: NotesSaver | null } = { saver: null }
  const body = h('div', { class: 'private-body' }, h('p', { class: 'loading' }, 'Loading the async context…'))
  const panel = h(
    'aside',
    { class: 'private-panel', testid: 'private-panel', 'aria-labelledby': 'private-h' },
    h('div', { class: 'private-head' }, h('h2', { id: 'private-h' }, 'Interviewer only'), endButton(ctx, () => notes.saver?.settle() ?? Promise.resolve())),
    body,
  )
  api.privatePanel(ctx.client, ctx.roomId).then(
    (p) => {
      const section = notesSection(ctx, p.notes)
      notes.saver = section.saver
      body.replaceChildren(section.el, ...content(ctx, p))
    },
    (e: unknown) =>
      body.replaceChildren(h('p', { class: 'error-text', role: 'alert' }, `Could not load the private panel: ${e instanceof Error ? e.message : String(e)}`)),
  )
  return panel
}

function content(ctx: PrivateContext, p: PrivatePanel): HTMLElement[] {
  const timeline = timelineSection(p.events, ctx.target)
  const record = recordSections({ client: ctx.client, roomId: ctx.roomId, target: ctx.record }, p.live_scores ?? [])
  return [
    integritySection(p.integrity_summary, p.integrity, ctx.target),
    ...[candidateNotesSection(p.integrity_summary.flags, (p as { integrity_notes?: IntegrityNote[] }).integrity_notes)].filter((e) => e !== null),
    scorecardSection(p.scorecard, ctx.target),
    record.scores,
    record.session,
    h('details', { class: 'panel-section collapsible' }, h('summary', null, `Async timeline (${p.events.length} events)`), timeline),
  ]
}

function notesSection(ctx: PrivateContext, initial: string): { el: HTMLElement; saver: NotesSaver } {
  const status = h('span', { class: 'notes-status muted', role: 'status', 'aria-live': 'polite', testid: 'notes-status' })
  const area = h('textarea', {
    id: 'private-notes',
    class: 'notes',
    rows: 5,
    placeholder: 'Only you can see these notes.',
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
    { class: 'panel-section' },
    h('div', { class: 'notes-head' }, h('label', { for: 'private-notes' }, h('h2', null, 'Private notes')), status),
    area,
  )
  return { el, saver }
}

function endButton(ctx: PrivateContext, saveNotes: () => Promise<void>): HTMLElement {
  const button = h('button', { type: 'button', class: 'button danger', testid: 'end-room' }, 'End room')
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
