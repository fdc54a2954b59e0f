// One submission: its files (read-only), the async context, and "Promote to live follow-up".

import { EditorState } from '@codemirror/state'
import { EditorView } from '@codemirror/view'
import { api } from '../lib/api'
import { buildTree, filesInTreeOrder } from '../lib/filetree'
import { formatDateTime } from '../lib/format'
import { pickInitialFile } from '../lib/language'
import type { Promoted, Submission } from '../lib/types'
import { copyText, h } from '../ui/dom'
import { LanguageSlot, baseSetup, jumpToLines, readOnly } from '../ui/editor'
import { integritySection, scorecardSection, timelineSection, type JumpTarget } from '../ui/insights'
import { FileTree } from '../ui/tree'
import { endedRoomControls } from './ended'
import { promoteOptions } from './options'
import { roomBadge, type ListContext } from './list'

const NAME_KEY = 'handoff.interviewerName'

export function renderDetail(ctx: ListContext, id: string): HTMLElement {
  const page = h('section', { class: 'page detail-page', testid: 'submission-detail' }, h('p', { class: 'loading' }, 'Loading submission…'))
  api
    .getSubmission(ctx.client, id)
    .then((s) => page.replaceChildren(...detail(ctx, s)))
    .catch((e: unknown) => ctx.fail(e, page))
  return page
}

function detail(ctx: ListContext, s: Submission): HTMLElement[] {
  document.title = `${s.candidate.name} · ${s.exercise.title} · handoff`
  const files = new Map(s.files.map((f) => [f.path, f.content]))
  const viewer = new Viewer(files)
  const tree = new FileTree((path) => open(path))
  const open = (path: string, lines?: [number, number]) => {
    if (!files.has(path)) return
    tree.setActive(path)
    viewer.show(path, lines)
  }
  tree.setPaths(files.keys())
  const target: JumpTarget = { jump: open, has: (f) => files.has(f) }
  const first = pickInitialFile(filesInTreeOrder(buildTree(files.keys())), s.exercise.language)
  if (first) queueMicrotask(() => open(first))

  let badge = roomBadge(s.room)
  const promoted = (p: Promoted) => {
    const next = roomBadge(p.room)
    badge.replaceWith(next)
    badge = next
  }
  const head = h(
    'div',
    { class: 'detail-head' },
    h('a', { href: '/', class: 'back', on: { click: (ev) => { ev.preventDefault(); ctx.navigate('/') } } }, '← All submissions'),
    h(
      'div',
      { class: 'title-row' },
      h(
        'div',
        null,
        h('h1', null, s.candidate.name, s.candidate.email ? h('span', { class: 'muted email' }, ` ${s.candidate.email}`) : null),
        h(
          'p',
          { class: 'muted' },
          [s.exercise.title, s.exercise.language, `submitted ${formatDateTime(s.created_at_ms)}`].filter(Boolean).join(' · '),
          ' ',
          badge,
        ),
      ),
      promoteBox(ctx, s, promoted),
    ),
  )
  const body = h(
    'div',
    { class: 'detail-body' },
    h('aside', { class: 'sidebar' }, h('h2', { class: 'side-title' }, 'Files'), tree.el),
    viewer.el,
    h(
      'div',
      { class: 'insights' },
      integritySection(s.integrity_summary, s.integrity, target),
      scorecardSection(s.scorecard, target),
      timelineSection(s.events, target),
    ),
  )
  return [head, body]
}

/** A read-only CodeMirror view of the submitted files. */
class Viewer {
  readonly el: HTMLElement
  private readonly title = h('div', { class: 'editor-title', testid: 'viewer-path' }, 'No file open')
  private readonly view: EditorView
  private readonly language = new LanguageSlot()
  private readonly files: ReadonlyMap<string, string>
  private current: string | null = null

  constructor(files: ReadonlyMap<string, string>) {
    this.files = files
    const host = h('div', { class: 'editor-host', testid: 'viewer' })
    this.el = h('div', { class: 'editor-pane' }, this.title, host)
    this.view = new EditorView({ parent: host, state: this.state('') })
    ;(window as unknown as { __handoff: unknown }).__handoff = { view: this.view }
  }

  private state(doc: string): EditorState {
    return EditorState.create({ doc, extensions: [baseSetup(), readOnly(), this.language.initial()] })
  }

  show(path: string, lines?: [number, number]): void {
    if (this.current !== path) {
      this.current = path
      this.view.setState(this.state(this.files.get(path) ?? ''))
      this.language.apply(this.view, path)
      this.title.textContent = path
    }
    jumpToLines(this.view, lines, lines !== undefined)
  }
}

function promoteBox(ctx: ListContext, s: Submission, promoted: (p: Promoted) => void): HTMLElement {
  const live = s.room?.status === 'live'
  const name = h('input', {
    id: 'interviewer-name',
    type: 'text',
    autocomplete: 'name',
    placeholder: 'Interviewer',
    value: localStorage.getItem(NAME_KEY) ?? '',
    testid: 'interviewer-name',
  })
  const result = h('div', { class: 'promote-result', 'aria-live': 'polite' })
  const button = h(
    'button',
    { type: 'button', class: 'button primary', testid: 'promote' },
    live ? 'Show live room links' : 'Promote to live follow-up',
  )
  const options = promoteOptions()
  const fail = (e: unknown) => ctx.fail(e, result)
  button.addEventListener('click', () => {
    const who = name.value.trim() || 'Interviewer'
    localStorage.setItem(NAME_KEY, name.value.trim())
    let chosen
    try {
      chosen = options.read()
    } catch (e) {
      result.replaceChildren(h('p', { class: 'error-text', role: 'alert', testid: 'promote-options-error' }, e instanceof Error ? e.message : String(e)))
      return
    }
    button.disabled = true
    result.replaceChildren(h('p', { class: 'loading' }, 'Opening the room…'))
    api
      .promote(ctx.client, s.id, who, chosen)
      .then((p) => {
        result.replaceChildren(roomLinks(p))
        button.textContent = 'Show live room links'
        promoted(p)
      })
      .catch(fail)
      .finally(() => {
        button.disabled = false
      })
  })
  const ended = endedRoomControls(
    ctx.client,
    s,
    () => name.value.trim() || 'Interviewer',
    options.read,
    (p) => {
      result.replaceChildren(h('p', { class: 'muted small', testid: 'promote-outcome' }, p.outcome === 'reopened' ? 'The room was reopened.' : 'A new follow-up room was opened.'), roomLinks(p))
      promoted(p)
    },
    fail,
  )
  button.hidden = ended !== null
  // A live room keeps the options it opened with; they are shown only while a room can still be opened.
  options.el.hidden = live
  return h(
    'div',
    { class: 'promote-box' },
    h('div', { class: 'promote-row' }, h('label', { for: 'interviewer-name' }, 'Your name'), name, button),
    options.el,
    ended,
    result,
  )
}

function linkRow(label: string, url: string, testid: string): HTMLElement {
  const id = `link-${testid}`
  const input = h('input', { id, type: 'text', readonly: true, value: url, testid: `${testid}-link`, on: { focus: () => input.select() } })
  const copy = h('button', { type: 'button', class: 'button', testid: `copy-${testid}` }, 'Copy')
  copy.addEventListener('click', () => {
    void copyText(url).then((ok) => {
      copy.textContent = ok ? 'Copied' : 'Select and copy'
      setTimeout(() => (copy.textContent = 'Copy'), 1500)
    })
  })
  return h('div', { class: 'link-row' }, h('label', { for: id }, label), input, copy)
}

function roomLinks(p: Promoted): HTMLElement {
  return h(
    'section',
    { class: 'room-links', testid: 'room-links', 'aria-label': 'Room links' },
    h('p', { class: 'muted small links-note' }, 'Send the candidate their link. Observers can watch but not edit.'),
    linkRow('Candidate link', p.links.candidate, 'candidate'),
    linkRow('Observer link', p.links.observer, 'observer'),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'button primary', testid: 'open-room', on: { click: () => location.assign(p.links.interviewer) } }, 'Open room'),
      h('span', { class: 'muted small' }, `Links expire ${formatDateTime(p.expires_at_ms)}.`),
    ),
  )
}
