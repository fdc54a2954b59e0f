// The interviewer's live session record in the private panel: the timeline of edits and joins/leaves
// with a replay slider, and live rubric scores citing its moments. Built only for the interviewer; every
// endpoint it calls refuses the other roles anyway.

import { api, type Client } from '../lib/api'
import { formatClock } from '../lib/format'
import {
  entryLabel,
  entryText,
  momentText,
  scoreEvidence,
  scoreLine,
  sessionEntries,
  sliderMax,
  validateScore,
  type SessionEntry,
} from '../lib/record'
import type { LiveScore, Timeline } from '../lib/types'
import { debounce, h } from '../ui/dom'
import { NotesSaver } from './notes'
import { reportButton } from './report'

/** Fetch the replay this long after the slider stops moving. */
export const REPLAY_DEBOUNCE_MS = 250

/** What the record drives in the code area. */
export interface RecordTarget {
  showReplay(files: Record<string, string>, atMs: number): void
  backToLive(): void
  refreshAuthorship(): void
  openFile(path: string): void
  has(path: string): boolean
  readonly replaying: boolean
  onLive: () => void
}

export interface RecordContext {
  client: Client
  roomId: string
  target: RecordTarget
}

/** The timeline as last loaded, shared by the Session section and the score form's citations. */
class TimelineStore {
  entries: SessionEntry[] = []
  startedAtMs: number | null = null
  private readonly listeners: Array<() => void> = []

  set(t: Timeline, entries: SessionEntry[]): void {
    this.startedAtMs = t.started_at_ms
    this.entries = entries
    for (const l of this.listeners) l()
  }

  listen(fn: () => void): void {
    this.listeners.push(fn)
  }

  bySeq(seq: number): SessionEntry | null {
    return this.entries.find((e) => e.seq === seq) ?? null
  }
}

export function recordSections(ctx: RecordContext, liveScores: LiveScore[]): { session: HTMLElement; scores: HTMLElement } {
  const store = new TimelineStore()
  const session = sessionSection(ctx, store)
  const scores = scoresSection(ctx, store, liveScores, () => session.load())
  return { session: session.el, scores }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

function sessionSection(ctx: RecordContext, store: TimelineStore): { el: HTMLElement; load: () => void } {
  const status = h('span', { class: 'muted session-status', role: 'status', 'aria-live': 'polite', testid: 'session-status' })
  const list = h('ol', { class: 'timeline session-list', testid: 'session-list' })
  const slider = h('input', {
    type: 'range',
    min: '0',
    max: '0',
    step: '100',
    value: '0',
    class: 'replay-slider',
    id: 'replay-slider',
    testid: 'replay-slider',
    'aria-label': 'Replay the session at a moment',
  })
  const time = h('output', { class: 'replay-time', for: 'replay-slider', testid: 'replay-time' }, 'Live')
  const back = h('button', { type: 'button', class: 'button small', testid: 'replay-back', disabled: true }, 'Back to live')
  const refresh = h('button', { type: 'button', class: 'button small', testid: 'session-refresh' }, 'Refresh')
  let loading = false
  let replayRequest = 0

  const setLive = () => {
    replayRequest++
    fetchSoon.cancel()
    slider.value = slider.max
    time.textContent = 'Live'
    back.disabled = true
    for (const b of list.querySelectorAll('[aria-current]')) b.removeAttribute('aria-current')
  }

  const replayAt = (atMs: number) => {
    const request = ++replayRequest
    time.textContent = `${formatClock(atMs)} · loading…`
    api.replay(ctx.client, ctx.roomId, atMs).then(
      (r) => {
        if (request !== replayRequest) return
        time.textContent = formatClock(atMs)
        back.disabled = false
        ctx.target.showReplay(r.files, atMs)
      },
      (e: unknown) => {
        if (request !== replayRequest) return
        time.textContent = `${formatClock(atMs)} · ${errorText(e)}`
      },
    )
  }
  const fetchSoon = debounce(() => replayAt(Number(slider.value)), REPLAY_DEBOUNCE_MS)

  slider.addEventListener('input', () => {
    time.textContent = formatClock(Number(slider.value))
    fetchSoon()
  })
  back.addEventListener('click', () => ctx.target.backToLive())
  ctx.target.onLive = setLive

  const renderEntries = (t: Timeline) => {
    const { entries, hidden } = sessionEntries(t)
    store.set(t, entries)
    const max = sliderMax(t, Date.now())
    const wasLive = !ctx.target.replaying
    slider.max = String(max)
    if (wasLive) slider.value = String(max)
    list.replaceChildren(
      ...(hidden > 0 ? [h('li', { class: 'muted' }, `${hidden} earlier entries not shown.`)] : []),
      ...entries.map((e) =>
        h(
          'li',
          null,
          h(
            'button',
            {
              type: 'button',
              class: `cite session-entry kind-${e.kind} who-${e.who}`,
              testid: 'session-entry',
              'data-kind': e.kind,
              'data-source': e.who,
              'data-seq': e.seq,
              'data-at-ms': e.until_ms,
              title: 'Replay the files at this moment',
              on: {
                click: (ev) => {
                  for (const b of list.querySelectorAll('[aria-current]')) b.removeAttribute('aria-current')
                  ;(ev.currentTarget as HTMLElement).setAttribute('aria-current', 'true')
                  fetchSoon.cancel()
                  slider.value = String(Math.min(e.until_ms, max))
                  if (e.file && ctx.target.has(e.file)) ctx.target.openFile(e.file)
                  replayAt(e.until_ms)
                },
              },
            },
            h('span', { class: 'when' }, formatClock(e.at_ms)),
            h(
              'span',
              { class: 'what' },
              h('strong', { class: 'session-author' }, e.author),
              e.file ? h('span', { class: 'muted' }, ` · ${e.file}`) : null,
              h('span', { class: 'session-text' }, ` ${entryText(e)}`),
              e.count > 1 ? h('span', { class: 'muted' }, ` (${e.count} edits)`) : null,
            ),
          ),
        ),
      ),
    )
    if (entries.length === 0) list.append(h('li', { class: 'muted' }, 'Nothing has happened in the room yet.'))
  }

  const load = () => {
    if (loading) return
    loading = true
    refresh.disabled = true
    status.textContent = 'Loading…'
    api.timeline(ctx.client, ctx.roomId).then(
      (t) => {
        loading = false
        refresh.disabled = false
        status.textContent = `${t.edits.length} edits, ${t.presence.length} joins/leaves`
        renderEntries(t)
      },
      (e: unknown) => {
        loading = false
        refresh.disabled = false
        status.textContent = `Could not load: ${errorText(e)}`
      },
    )
  }
  refresh.addEventListener('click', () => {
    load()
    ctx.target.refreshAuthorship()
  })

  const el = h(
    'details',
    { class: 'panel-section collapsible session', testid: 'session' },
    h('summary', { testid: 'session-summary' }, 'Session (live record)'),
    h('div', { class: 'session-tools' }, refresh, reportButton(ctx.client, ctx.roomId), status),
    h(
      'div',
      { class: 'replay-controls' },
      h('label', { for: 'replay-slider', class: 'muted' }, 'Replay'),
      slider,
      time,
      back,
    ),
    list,
  )
  el.addEventListener('toggle', () => {
    if ((el as HTMLDetailsElement).open) load()
  })
  return { el, load }
}

function scoresSection(ctx: RecordContext, store: TimelineStore, initial: LiveScore[], loadTimeline: () => void): HTMLElement {
  const scores: LiveScore[] = initial.map((s) => ({ ...s, evidence: [...(s.evidence ?? [])] }))
  const status = h('span', { class: 'notes-status muted', role: 'status', 'aria-live': 'polite', testid: 'scores-status' })
  const list = h('ul', { class: 'live-scores', testid: 'live-scores' })
  const formError = h('p', { class: 'error-text', role: 'alert', testid: 'score-error', hidden: true })
  const dimension = h('input', { type: 'text', class: 'score-dimension', placeholder: 'Dimension', 'aria-label': 'Dimension', testid: 'score-dimension', maxlength: '200' })
  const score = h('input', { type: 'number', class: 'score-num', min: '0', step: 'any', placeholder: 'Score', 'aria-label': 'Score', testid: 'score-value' })
  const max = h('input', { type: 'number', class: 'score-num', min: '0', step: 'any', value: '4', 'aria-label': 'Out of', testid: 'score-max' })
  const cite = h('select', { class: 'score-cite', 'aria-label': 'Cite a moment', testid: 'score-cite' })
  const note = h('input', { type: 'text', class: 'score-note', placeholder: 'Note (optional)', 'aria-label': 'Evidence note', testid: 'score-note' })
  const add = h('button', { type: 'submit', class: 'button small', testid: 'score-add' }, 'Add score')
  const retry = h('button', { type: 'button', class: 'button small ghost', testid: 'scores-save', hidden: true }, 'Save again')

  const saver = new NotesSaver(
    (body) => api.saveScores(ctx.client, ctx.roomId, JSON.parse(body) as LiveScore[]).then(() => undefined),
    (s) => {
      status.dataset.state = s.state
      status.textContent = s.text
      retry.hidden = s.state !== 'error'
    },
    0,
  )
  const save = () => {
    saver.edit(JSON.stringify(scores))
    saver.flush()
  }
  retry.addEventListener('click', () => saver.flush())

  const renderCite = () => {
    const chosen = cite.value
    const edits = store.entries.filter((e) => e.kind === 'edit' && e.seq !== undefined)
    cite.replaceChildren(
      h('option', { value: '' }, store.startedAtMs === null ? 'No moment (open the list to load the session)' : 'No moment (note only)'),
      ...edits.map((e) => h('option', { value: String(e.seq) }, entryLabel(e))),
    )
    if ([...cite.options].some((o) => o.value === chosen)) cite.value = chosen
  }
  const renderList = () => {
    list.replaceChildren(
      ...scores.map((s, i) =>
        h(
          'li',
          { class: 'live-score', testid: 'live-score', 'data-dimension': s.dimension },
          h('div', { class: 'live-score-head' }, h('strong', null, scoreLine(s)), h('button', { type: 'button', class: 'button small ghost', 'aria-label': `Remove ${s.dimension}`, testid: 'score-remove', on: { click: () => { scores.splice(i, 1); renderList(); save() } } }, 'Remove')),
          ...s.evidence.map((m) => h('div', { class: 'muted live-score-cite' }, momentText(m, store.startedAtMs))),
        ),
      ),
    )
    if (scores.length === 0) list.append(h('li', { class: 'muted' }, 'No live scores yet.'))
  }
  store.listen(() => {
    renderCite()
    renderList()
  })
  cite.addEventListener('focus', () => {
    if (store.startedAtMs === null) loadTimeline()
  })

  const form = h(
    'form',
    { class: 'score-form', testid: 'score-form' },
    h('div', { class: 'score-row' }, dimension, score, h('span', { class: 'muted' }, '/'), max),
    cite,
    note,
    h('div', { class: 'score-row' }, add, retry),
    formError,
  )
  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    const checked = validateScore({ dimension: dimension.value, score: score.value, max: max.value })
    if (!checked.ok) {
      formError.hidden = false
      formError.textContent = checked.message
      return
    }
    formError.hidden = true
    const entry = cite.value === '' ? null : store.bySeq(Number(cite.value))
    scores.push({ dimension: checked.dimension, score: checked.score, max: checked.max, evidence: scoreEvidence(entry, note.value) })
    dimension.value = ''
    score.value = ''
    note.value = ''
    cite.value = ''
    renderList()
    save()
  })

  renderCite()
  renderList()
  return h(
    'section',
    { class: 'panel-section', testid: 'live-scoring', 'aria-labelledby': 'live-scores-h' },
    h('div', { class: 'notes-head' }, h('h2', { id: 'live-scores-h' }, 'Live scores'), status),
    list,
    form,
  )
}
