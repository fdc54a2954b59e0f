// The voices in the Session record's replay: each recording of the export (an Ogg/Opus file per speaker,
// its first sample at `started_at_ms` on the room clock) in its own <audio>, kept in step with the
// replay's slider. The files download with the interviewer's credential (an <audio src> cannot send
// one), so each plays from a blob: URL (the CSP allows `media-src blob:`).

import { api, type Client } from '../lib/api'
import { formatClock, formatDuration } from '../lib/format'
import { audioStep } from '../lib/replay'
import type { Recording } from '../lib/types'
import { h } from '../ui/dom'

/** The replay reloads the list of recordings at most this often (they grow while the room goes on). */
export const RECORDINGS_REFRESH_MS = 10_000

interface Loaded {
  rec: Recording
  audio: HTMLAudioElement
  /** The blob: URL, revoked when the record goes away. */
  url: string | null
}

export class ReplayAudio {
  readonly el: HTMLElement
  private readonly list = h('ul', { class: 'replay-recordings-list' })
  private readonly status = h('span', { class: 'muted' })
  private readonly client: Client
  private readonly roomId: string
  private readonly loaded = new Map<string, Loaded>()
  private loading: Promise<void> | null = null
  private loadedAt = 0
  private lastAt = 0
  private roomStartMs: number | null = null
  private playing = false
  private speed = 1

  constructor(client: Client, roomId: string) {
    this.client = client
    this.roomId = roomId
    this.el = h('div', { class: 'replay-recordings', testid: 'replay-recordings', hidden: true }, h('span', null, 'Voice: '), this.status, this.list)
  }

  /** `refresh`, unless it ran less than RECORDINGS_REFRESH_MS ago. */
  refreshIfStale(roomStartMs: number | null): Promise<void> {
    return Date.now() - this.loadedAt < RECORDINGS_REFRESH_MS ? (this.loading ?? Promise.resolve()) : this.refresh(roomStartMs)
  }

  /** Loads the export's recordings not yet here, and the new length of those still growing. */
  refresh(roomStartMs: number | null): Promise<void> {
    if (roomStartMs !== null) this.roomStartMs = roomStartMs
    if (this.loading) return this.loading
    this.loadedAt = Date.now()
    this.loading = api
      .exportRoom(this.client, this.roomId)
      .then(async (x) => {
        // A recording still being written has nothing to play yet; it is loaded once it has.
        const recs = (x.recordings ?? []).filter((r) => r.duration_ms > 0)
        if (this.roomStartMs === null) this.roomStartMs = x.started_at_ms
        const failed: string[] = []
        for (const rec of recs) {
          const known = this.loaded.get(rec.id)
          // A recording still being written grows: take its latest length.
          if (known && known.rec.duration_ms === rec.duration_ms) continue
          // One file that fails to download leaves the others playable.
          await this.load(rec).catch(() => failed.push(rec.participant))
        }
        this.render()
        if (failed.length > 0) this.status.textContent = `could not load the recording of ${failed.join(', ')}.`
      })
      .catch((e: unknown) => {
        this.status.textContent = `recordings could not load (${e instanceof Error ? e.message : String(e)})`
      })
      .finally(() => {
        this.loading = null
      })
    return this.loading
  }

  private async load(rec: Recording): Promise<void> {
    const headers: Record<string, string> = {}
    if (this.client.credential) headers.authorization = `Bearer ${this.client.credential}`
    const res = await fetch(rec.url, { headers })
    if (!res.ok) throw new Error(`HTTP ${res.status} for ${rec.participant}'s recording`)
    const url = URL.createObjectURL(await res.blob())
    const old = this.loaded.get(rec.id)
    if (old) {
      old.audio.pause()
      if (old.url) URL.revokeObjectURL(old.url)
    }
    const audio = old?.audio ?? h('audio', { preload: 'auto', testid: 'replay-audio', 'data-recording': rec.id, 'data-participant': rec.participant })
    audio.src = url
    this.loaded.set(rec.id, { rec, audio, url })
    this.step()
  }

  private render(): void {
    const all = [...this.loaded.values()].sort((a, b) => a.rec.started_at_ms - b.rec.started_at_ms)
    this.el.hidden = all.length === 0
    this.status.textContent = ''
    const start = this.roomStartMs ?? 0
    this.list.replaceChildren(
      ...all.map(({ rec, audio }) =>
        h('li', { testid: 'replay-recording' }, `${rec.participant} (${rec.role}) from ${formatClock(rec.started_at_ms - start)}, ${formatDuration(rec.duration_ms)}`, audio),
      ),
    )
  }

  /** The replay moved to `atMs` (ms since the room opened): every recording follows. */
  seek(atMs: number): void {
    this.lastAt = atMs
    this.step()
  }

  /** Playback started or stopped, or changed speed. */
  setPlaying(playing: boolean, speed: number): void {
    this.playing = playing
    this.speed = speed
    this.step()
  }

  /** Back to live: everything stops. */
  stop(): void {
    this.playing = false
    for (const { audio } of this.loaded.values()) audio.pause()
  }

  private step(): void {
    if (this.roomStartMs === null) return
    for (const { rec, audio } of this.loaded.values()) {
      const s = audioStep(rec, this.roomStartMs, this.lastAt, this.playing, { currentTimeS: audio.currentTime, paused: audio.paused })
      if (s.seekS !== undefined) audio.currentTime = s.seekS
      audio.playbackRate = this.speed
      if (s.play && audio.paused) void audio.play().catch(() => {})
      else if (!s.play && !audio.paused) audio.pause()
    }
  }

  destroy(): void {
    this.stop()
    for (const { url } of this.loaded.values()) if (url) URL.revokeObjectURL(url)
    this.loaded.clear()
  }
}
