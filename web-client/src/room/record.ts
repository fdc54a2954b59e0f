// The interviewer's live session record in the private panel: the timeline of edits and joins/leaves
// with a replay slider, and live rubric scores citing its moments. Built only for the interviewer; every
// endpoint it calls refuses the other roles anyway.

import { api, type Client } from '../lib/api'
import { formatClock } from '../lib/format'
import { nameColor } from '../lib/color'
import { entryText, sessionEntries, sliderMax, type SessionEntry } from '../lib/record'
import { replayStep } from '../lib/replay'
import type { LiveScore, Scorecard, Timeline } from '../lib/types'
import { debounce, h } from '../ui/dom'
import { ReplayPlayer } from './player'
import { ReplayAudio } from './replay-audio'
import { reportButton } from './report'
import { scoresSection } from './scores'

/** Fetch the replay this long after the slider stops moving. */
export const REPLAY_DEBOUNCE_MS = 250
/** While the room is busy, the session list reloads at most this often. */
export const SESSION_REFRESH_MS = 3000
/** Page Up / Page Down move this many arrow-key steps. */
const PAGE_STEPS = 10

/** What the record drives in the code area. */
export interface RecordTarget {
  showReplay(files: Record<string, string>, atMs: number): void
  backToLive(): void
  refreshAuthorship(): void
  openFile(path: string): void
  has(path: string): boolean
  readonly replaying: boolean
  onLive: () => void
  /** Calls `fn` whenever something happens in the room (an edit, a join or leave). */
  onActivity(fn: () => void): void
}

export interface RecordContext {
  client: Client
  roomId: string
  target: RecordTarget
  /** The review shows "Download report" in its own header; the live room shows it here. */
  reportHere?: boolean
}

/** The timeline as last loaded, shared by the Session section and the score form's citations. */
export class TimelineStore {
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

export interface RecordSections {
  session: HTMLElement
  scores: HTMLElement
  /** The moment being looked at, in ms since the room opened: the replay's, or now (loads the session if needed). */
  currentMoment(): Promise<number>
}

export function recordSections(ctx: RecordContext, scorecard: Scorecard | null, liveScores: LiveScore[]): RecordSections {
  const store = new TimelineStore()
  const session = sessionSection(ctx, store)
  const scores = scoresSection(ctx, store, scorecard, liveScores, () => void session.load())
  // The list is there from the start and follows the room, not only once someone opens it.
  void session.load()
  // At most one reload per SESSION_REFRESH_MS while the room is busy, and always one after the last change.
  let last = 0
  let pending: ReturnType<typeof setTimeout> | null = null
  ctx.target.onActivity(() => {
    if (pending !== null) return
    pending = setTimeout(() => {
      pending = null
      last = Date.now()
      void session.load()
    }, Math.max(0, last + SESSION_REFRESH_MS - Date.now()))
  })
  const currentMoment = async () => {
    if (store.startedAtMs === null) await session.load()
    if (ctx.target.replaying) return session.position()
    return Math.max(0, Date.now() - (store.startedAtMs ?? Date.now()))
  }
  return { session: session.el, scores, currentMoment }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

function sessionSection(ctx: RecordContext, store: TimelineStore): { el: HTMLElement; load: () => Promise<void>; position: () => number } {
  // Not a live region: the list reloads every few seconds while people type, and would chatter.
  const status = h('p', { class: 'muted session-status', testid: 'session-status' })
  const list = h('ol', { class: 'timeline session-list', testid: 'session-list' })
  const slider = h('input', {
    type: 'range',
    min: '0',
    max: '0',
    step: '1',
    value: '0',
    class: 'replay-slider',
    id: 'replay-slider',
    testid: 'replay-slider',
    'aria-label': 'Replay the session at a moment',
  })
  const time = h('output', { class: 'replay-time', for: 'replay-slider', testid: 'replay-time' }, 'Live')
  const back = h('button', { type: 'button', class: 'button small', testid: 'replay-back', disabled: true }, 'Back to live')
  const refresh = h('button', { type: 'button', class: 'button small', testid: 'session-refresh' }, 'Refresh')
  const voices = new ReplayAudio(ctx.client, ctx.roomId)
  let voicesListed = false
  let loading: Promise<void> | null = null
  let replayRequest = 0
  let replayInFlight = false
  // The slider was moved away from "now": list refreshes must not pull it back before its replay loads.
  let pinned = false

  const setLive = () => {
    pinned = false
    player.stop()
    voices.stop()
    replayRequest++
    fetchSoon.cancel()
    slider.value = slider.max
    time.textContent = 'Live'
    back.disabled = true
    for (const b of list.querySelectorAll('[aria-current]')) b.removeAttribute('aria-current')
  }

  const replayAt = (atMs: number) => {
    const request = ++replayRequest
    voices.seek(atMs)
    void voices.refreshIfStale(store.startedAtMs)
    replayInFlight = true
    if (!player.playing) time.textContent = `${formatClock(atMs)} · loading…`
    api.replay(ctx.client, ctx.roomId, atMs).then(
      (r) => {
        if (request !== replayRequest) return
        replayInFlight = false
        time.textContent = formatClock(atMs)
        back.disabled = false
        ctx.target.showReplay(r.files, atMs)
      },
      (e: unknown) => {
        if (request !== replayRequest) return
        replayInFlight = false
        player.stop()
        time.textContent = `${formatClock(atMs)} · ${errorText(e)}`
      },
    )
  }
  const fetchSoon = debounce(() => replayAt(Number(slider.value)), REPLAY_DEBOUNCE_MS)

  slider.addEventListener('input', () => {
    pinned = true
    time.textContent = formatClock(Number(slider.value))
    voices.seek(Number(slider.value))
    fetchSoon()
  })
  // Arrow keys step by a share of the session, so an hour is crossed in ~200 presses (the range input's
  // own step stays fine-grained so a click on an entry lands exactly on it).
  slider.addEventListener('keydown', (ev) => {
    const step = replayStep(Number(slider.max))
    const by: Record<string, number> = { ArrowRight: step, ArrowUp: step, ArrowLeft: -step, ArrowDown: -step, PageUp: step * PAGE_STEPS, PageDown: -step * PAGE_STEPS }
    const delta = by[ev.key]
    if (delta === undefined) return
    ev.preventDefault()
    moveTo(Number(slider.value) + delta)
  })
  const moveTo = (atMs: number, now = false) => {
    const at = Math.min(Number(slider.max), Math.max(0, Math.round(atMs)))
    pinned = true
    slider.value = String(at)
    time.textContent = formatClock(at)
    if (now) {
      fetchSoon.cancel()
      replayAt(at)
    } else fetchSoon()
  }
  const player = new ReplayPlayer({
    position: () => Number(slider.value),
    max: () => Number(slider.max),
    events: () => store.entries.map((e) => e.until_ms),
    // Playback asks for the next frame only once the last one arrived: never a queue of requests.
    busy: () => replayInFlight,
    seek: (atMs) => moveTo(atMs, true),
    changed: (playing, speed) => voices.setPlaying(playing, speed),
  })
  back.addEventListener('click', () => ctx.target.backToLive())
  ctx.target.onLive = setLive

  const renderEntries = (t: Timeline) => {
    const { entries, hidden } = sessionEntries(t)
    store.set(t, entries)
    const max = sliderMax(t, Date.now())
    const wasLive = !ctx.target.replaying && !pinned
    slider.max = String(max)
    slider.setAttribute('aria-valuetext', formatClock(Number(slider.value)))
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
                  pinned = true
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
              h('span', { class: 'person-dot', style: `background: ${nameColor(e.author).color}`, 'aria-hidden': 'true' }),
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

  const load = (): Promise<void> => {
    if (loading) return loading
    refresh.disabled = true
    loading = api.timeline(ctx.client, ctx.roomId).then(
      (t) => {
        loading = null
        refresh.disabled = false
        status.textContent = `${t.edits.length} edits, ${t.presence.length} joins/leaves`
        renderEntries(t)
        // The recordings once at first; then as the replay is used (the export is not a cheap read).
        if (!voicesListed) {
          voicesListed = true
          void voices.refresh(t.started_at_ms)
        }
      },
      (e: unknown) => {
        loading = null
        refresh.disabled = false
        status.textContent = `Could not load: ${errorText(e)}`
      },
    )
    return loading
  }
  refresh.addEventListener('click', () => {
    void load()
    void voices.refresh(store.startedAtMs)
    ctx.target.refreshAuthorship()
  })

  const el = h(
    'section',
    { class: 'panel-section session', testid: 'session', 'aria-labelledby': 'session-h' },
    h('div', { class: 'notes-head' }, h('h2', { id: 'session-h' }, 'Session record'), refresh, ctx.reportHere === false ? null : reportButton(ctx.client, ctx.roomId)),
    status,
    h('div', { class: 'replay-controls' }, h('label', { for: 'replay-slider', class: 'visually-hidden' }, 'Replay'), slider, time, back),
    h('div', { class: 'replay-controls' }, player.el),
    voices.el,
    h('div', { class: 'session-scroll' }, list),
  )
  return { el, load, position: () => Number(slider.value) }
}
