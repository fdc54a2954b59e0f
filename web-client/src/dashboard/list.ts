// The submissions list, newest first, and importing a submission from a JSON file.

import { api, parseSubmissionFile, type Client } from '../lib/api'
import { flagCountLabel, formatDateTime, scoreText, truncate } from '../lib/format'
import { submissionPath } from '../lib/route'
import type { SubmissionListItem } from '../lib/types'
import { h } from '../ui/dom'
import { endedLabel } from './ended'

export interface ListContext {
  client: Client
  navigate: (path: string) => void
  /** Reports a failed call (the shell signs out on 401). */
  fail: (e: unknown, where: HTMLElement) => void
}

export function renderList(ctx: ListContext): HTMLElement {
  const status = h('p', { class: 'import-status', role: 'status', 'aria-live': 'polite', testid: 'import-status' })
  const body = h('div', { class: 'list-body' }, h('p', { class: 'loading' }, 'Loading submissions…'))
  const page = h(
    'section',
    { class: 'page list-page', testid: 'dashboard' },
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, 'Submissions'),
      importControl(ctx, status),
    ),
    status,
    body,
  )
  api
    .listSubmissions(ctx.client)
    .then(({ submissions }) => body.replaceChildren(submissions.length === 0 ? emptyState() : table(ctx, submissions)))
    .catch((e: unknown) => ctx.fail(e, body))
  return page
}

function importControl(ctx: ListContext, status: HTMLElement): HTMLElement {
  const input = h('input', {
    type: 'file',
    accept: 'application/json,.json',
    class: 'file-input',
    testid: 'import-input',
    on: {
      change: () => {
        const file = input.files?.[0]
        if (!file) return
        status.className = 'import-status'
        status.textContent = `Importing ${file.name}…`
        file
          .text()
          .then((text) => {
            const parsed = parseSubmissionFile(text)
            if (!parsed.ok) throw new Error(parsed.message)
            return api.createSubmission(ctx.client, parsed.body)
          })
          .then(({ id }) => ctx.navigate(submissionPath(id)))
          .catch((e: unknown) => {
            status.className = 'import-status error-text'
            status.textContent = `Import failed: ${e instanceof Error ? e.message : String(e)}`
            ctx.fail(e, status)
          })
          .finally(() => {
            input.value = ''
          })
      },
    },
  })
  return h('label', { class: 'button file-button' }, 'Import submission (JSON file)', input)
}

function emptyState(): HTMLElement {
  return h(
    'div',
    { class: 'empty', testid: 'empty' },
    h('p', null, 'No submissions yet.'),
    h('p', { class: 'muted' }, 'Import one from a JSON file, or have your hiring platform POST it to /api/v1/submissions.'),
  )
}

function table(ctx: ListContext, rows: SubmissionListItem[]): HTMLElement {
  const open = (ev: Event, id: string) => {
    const e = ev as MouseEvent
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button === 1) return // let the browser open a new tab
    ev.preventDefault()
    ctx.navigate(submissionPath(id))
  }
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'submissions', testid: 'submissions' },
      h(
        'thead',
        null,
        h('tr', null, ['Candidate', 'Exercise', 'Submitted', 'Integrity', 'Scorecard', 'Room'].map((t) => h('th', { scope: 'col' }, t))),
      ),
      h(
        'tbody',
        null,
        rows.map((s) =>
          h(
            'tr',
            { testid: 'submission-row', 'data-id': s.id },
            h(
              'td',
              { 'data-label': 'Candidate' },
              h('a', { href: submissionPath(s.id), class: 'row-link', on: { click: (ev) => open(ev, s.id) } }, s.candidate.name),
              s.candidate.email ? h('div', { class: 'muted small' }, s.candidate.email) : null,
            ),
            h(
              'td',
              { 'data-label': 'Exercise' },
              s.exercise.title,
              h('div', { class: 'muted small' }, [s.exercise.language, `${s.file_count} file${s.file_count === 1 ? '' : 's'}`].filter(Boolean).join(' · ')),
            ),
            h('td', { 'data-label': 'Submitted' }, formatDateTime(s.created_at_ms)),
            h(
              'td',
              { 'data-label': 'Integrity' },
              h('span', { class: `pill ${s.integrity_flags > 0 ? 'warn' : 'ok'}`, testid: 'flag-count' }, flagCountLabel(s.integrity_flags)),
            ),
            h(
              'td',
              { 'data-label': 'Scorecard' },
              s.scorecard
                ? [
                    h('span', { class: 'score' }, scoreText(s.scorecard.score, s.scorecard.max)),
                    s.scorecard.summary ? h('div', { class: 'muted small', title: s.scorecard.summary }, truncate(s.scorecard.summary, 80)) : null,
                  ]
                : h('span', { class: 'muted' }, '—'),
            ),
            h('td', { 'data-label': 'Room' }, roomBadge(s.room)),
          ),
        ),
      ),
    ),
  )
}

export function roomBadge(room: SubmissionListItem['room']): HTMLElement {
  if (!room) return h('span', { class: 'pill', testid: 'room-status' }, 'not promoted')
  return h('span', { class: `pill ${room.status === 'live' ? 'live' : ''}`, testid: 'room-status' }, room.status === 'live' ? '● live' : endedLabel(room))
}
