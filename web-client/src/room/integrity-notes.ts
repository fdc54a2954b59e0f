// Transparency about the integrity signals. Where promote set `candidate_sees_integrity`, the candidate
// sees the signals recorded about their own async session, in the words the interviewer reads, and may
// add a short note to each; the interviewer sees each note beside its signal. Off by default: the
// server refuses the candidate otherwise, and the button then never appears.

import type { Client } from '../lib/api'
import { flagSentence } from '../lib/format'
import { MAX_INTEGRITY_NOTE_CHARS, interviewApi, type IntegrityNote } from '../lib/interview'
import type { Flag } from '../lib/types'
import { h } from '../ui/dom'

const noteKey = (kind: string, atMs: number) => `${kind}@${atMs}`

/** The candidate's pane and the button that opens it, once the server says the candidate may see it. */
export function candidateIntegrity(client: Client, roomId: string, mount: (button: HTMLElement, pane: HTMLElement) => void): void {
  interviewApi.integrity(client, roomId).then(
    (r) => {
      const id = 'own-integrity'
      const notes = new Map(r.notes.map((n) => [noteKey(n.kind, n.at_ms), n.note]))
      const pane = h(
        'section',
        { class: 'interview-pane integrity-own', id, testid: 'own-integrity', hidden: true, 'aria-labelledby': 'own-integrity-h' },
        h('h2', { id: 'own-integrity-h' }, 'What your async session recorded'),
        h('p', { class: 'muted small' }, 'The interviewer sees these signals about your submission. You can add a short note to each; the interviewer sees it beside the signal.'),
        r.flags.length === 0
          ? h('p', { class: 'muted', testid: 'own-integrity-none' }, 'Nothing was flagged.')
          : h('ul', { class: 'flag-list' }, r.flags.map((f) => flagWithNote(client, roomId, f, notes.get(noteKey(String(f.kind), f.at_ms)) ?? ''))),
      )
      const button = h('button', { type: 'button', class: 'button ghost small', testid: 'own-integrity-toggle', 'aria-expanded': 'false', 'aria-controls': id }, `Your session (${r.flags.length})`)
      button.addEventListener('click', () => {
        pane.hidden = !pane.hidden
        button.setAttribute('aria-expanded', String(!pane.hidden))
      })
      mount(button, pane)
    },
    () => {
      // 403: this room does not show the candidate the signals. Nothing to add.
    },
  )
}

function flagWithNote(client: Client, roomId: string, f: Flag, initial: string): HTMLElement {
  const kind = String(f.kind)
  const input = h('textarea', {
    class: 'integrity-note-input',
    rows: 2,
    maxlength: String(MAX_INTEGRITY_NOTE_CHARS),
    placeholder: 'Your note (optional), e.g. "pasted from my own earlier file"',
    testid: 'own-integrity-note',
    'data-kind': kind,
    'data-at': String(f.at_ms),
    'aria-label': `Your note on: ${flagSentence(f)}`,
  })
  input.value = initial
  const status = h('span', { class: 'muted small', role: 'status', testid: 'own-integrity-status' })
  const save = h('button', { type: 'button', class: 'button small', testid: 'own-integrity-save' }, 'Save note')
  save.addEventListener('click', () => {
    save.disabled = true
    status.textContent = 'Saving…'
    interviewApi.setIntegrityNote(client, roomId, kind, f.at_ms, input.value.trim()).then(
      () => {
        save.disabled = false
        status.textContent = 'Saved'
      },
      (e: unknown) => {
        save.disabled = false
        status.textContent = `Not saved: ${e instanceof Error ? e.message : String(e)}`
      },
    )
  })
  return h('li', { class: 'flag', testid: 'own-flag' }, h('p', null, flagSentence(f)), input, h('div', { class: 'question-actions' }, save, status))
}

/** The candidate's notes as the interviewer reads them: each beside the sentence of its signal. */
export function candidateNotesSection(flags: readonly Flag[], notes: readonly IntegrityNote[] | undefined): HTMLElement | null {
  if (!notes || notes.length === 0) return null
  const sentence = (n: IntegrityNote) => {
    const f = flags.find((x) => String(x.kind) === n.kind && x.at_ms === n.at_ms)
    return f ? flagSentence(f) : `${n.kind} at ${n.at_ms} ms`
  }
  return h(
    'section',
    { class: 'panel-section candidate-notes', testid: 'candidate-notes', 'aria-labelledby': 'candidate-notes-h' },
    h('h2', { id: 'candidate-notes-h' }, "The candidate's notes on the signals"),
    h('ul', { class: 'flag-list' }, notes.map((n) => h('li', { class: 'flag', testid: 'candidate-note' }, h('p', { class: 'muted small' }, sentence(n)), h('p', null, `“${n.note}”`)))),
  )
}
