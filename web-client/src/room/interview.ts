// What the live room shows around the editor: the clock and the task in the top bar, the questions the
// interviewer pushes (with the interviewer's box to push one), and, where the room allows it, the
// candidate's own integrity signals. Built here so the room page only places it.

import type { Client } from '../lib/api'
import { parseRoomEvent, type InterviewSession } from '../lib/interview'
import { h } from '../ui/dom'
import { briefPane } from './brief'
import { roomClock } from './clock'
import type { Connection } from './connection'
import { candidateIntegrity } from './integrity-notes'
import { questionsPanel } from './questions'

export interface InterviewExtras {
  /** Clock and pane buttons, for the top bar. */
  topbar: HTMLElement
  /** The panes (task, own signals) and the questions, between the top bar and the code. */
  strip: HTMLElement
  stop(): void
}

export function interviewExtras(session: InterviewSession, client: Client, conn: Connection): InterviewExtras {
  const role = session.you.role
  const clock = roomClock(session)
  const brief = briefPane(session.exercise.title, session.exercise.brief)
  const topbar = h('span', { class: 'interview-controls' }, clock?.el ?? null, brief?.button ?? null)
  const questions = questionsPanel(client, session.room.id, role === 'interviewer')
  const strip = h('div', { class: 'interview-strip', testid: 'interview-strip' }, brief?.pane ?? null, questions.el)
  // The candidate's list stays hidden until there is a question; the interviewer needs the box.
  const showQuestions = () => {
    questions.el.hidden = role !== 'interviewer' && questions.el.querySelector('[data-testid="question"]') === null
  }
  showQuestions()
  new MutationObserver(showQuestions).observe(questions.el, { childList: true, subtree: true })

  conn.onRoomEvent = (json) => {
    const event = parseRoomEvent(json)
    if (event?.event === 'question') questions.add(event.question)
  }
  // After a reconnect the room may have had questions this client missed.
  conn.provider.on('sync', (synced: boolean) => {
    if (synced) questions.refresh()
  })
  if (role === 'candidate') {
    candidateIntegrity(client, session.room.id, (button, pane) => {
      topbar.append(button)
      strip.prepend(pane)
    })
  }
  return { topbar, strip, stop: () => clock?.stop() }
}
