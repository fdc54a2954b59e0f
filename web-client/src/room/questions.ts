// Questions the interviewer pushes during the call, shown to everyone in order. The room relays each as
// a room event (extension message 100) the moment it is pushed; the list is fetched when the room opens
// and after every reconnect, so a late joiner has them all.

import type { Client } from '../lib/api'
import { MAX_QUESTION_CHARS, interviewApi, mergeQuestions, type Question } from '../lib/interview'
import { h } from '../ui/dom'

export interface QuestionsPanel {
  el: HTMLElement
  /** A question arrived as a room event. */
  add(q: Question): void
  /** Fetches the whole list (on open and after a reconnect). */
  refresh(): void
}

export function questionsPanel(client: Client, roomId: string, canAsk: boolean): QuestionsPanel {
  let known: Question[] = []
  const list = h('ol', { class: 'questions-list', testid: 'questions-list', 'aria-live': 'polite' })
  const empty = h('p', { class: 'muted small', testid: 'questions-empty' }, canAsk ? 'Questions you push appear here for everyone.' : 'No questions yet.')
  const render = () => {
    list.replaceChildren(...known.map((q) => h('li', { class: 'question', testid: 'question', value: String(q.n), 'data-n': String(q.n) }, q.text)))
    empty.hidden = known.length > 0
  }
  const add = (more: readonly Question[]) => {
    known = mergeQuestions(known, more)
    render()
  }
  const el = h('section', { class: 'interview-pane questions-pane', testid: 'questions', 'aria-labelledby': 'questions-h' }, h('h2', { id: 'questions-h' }, 'Questions'), empty, list)
  if (canAsk) el.append(askForm(client, roomId, (q) => add([q])))
  const refresh = () => {
    interviewApi.questions(client, roomId).then(
      (r) => add(r.questions),
      () => {
        // The room page shows connection problems; the list stays as it was.
      },
    )
  }
  refresh()
  return { el, add: (q) => add([q]), refresh }
}

function askForm(client: Client, roomId: string, pushed: (q: Question) => void): HTMLElement {
  const input = h('textarea', {
    class: 'question-input',
    id: 'question-input',
    rows: 1,
    maxlength: String(MAX_QUESTION_CHARS),
    placeholder: 'A question for the candidate (everyone in the room sees it)',
    testid: 'question-input',
    'aria-label': 'Question for the candidate',
  })
  const status = h('span', { class: 'muted small', role: 'status', testid: 'question-status' })
  const send = h('button', { type: 'submit', class: 'button small primary', testid: 'question-send' }, 'Push question')
  const form = h('form', { class: 'question-form' }, input, h('div', { class: 'question-actions' }, send, status))
  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    const text = input.value.trim()
    if (text === '') return
    send.disabled = true
    status.textContent = 'Sending…'
    interviewApi.pushQuestion(client, roomId, text).then(
      (q) => {
        input.value = ''
        status.textContent = ''
        send.disabled = false
        pushed(q)
      },
      (e: unknown) => {
        send.disabled = false
        status.textContent = `Not sent: ${e instanceof Error ? e.message : String(e)}`
      },
    )
  })
  // Ctrl/Cmd+Enter sends, as in most chat boxes; Enter alone makes a new line.
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) form.requestSubmit()
  })
  return form
}
