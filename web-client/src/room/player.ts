// Replay playback: play and pause at 1×, 4× or 16×, and jumps to the previous or next event. Drives
// the Session record's slider through `seek`; knows nothing of the replay's content.

import { PLAY_SPEEDS, adjacentEvent, playbackPosition, type PlaySpeed } from '../lib/replay'
import { h } from '../ui/dom'

/** Playback advances (and asks for a frame) this often. */
export const PLAY_TICK_MS = 250

export interface PlayerHost {
  /** Where the slider is, in ms since the room opened, and how far it goes. */
  position(): number
  max(): number
  /** The moments of the session's entries (ms since the room opened). */
  events(): number[]
  /** A replay frame is being fetched: playback waits for it instead of queueing more. */
  busy(): boolean
  /** Moves the slider to `atMs` and shows the files then. */
  seek(atMs: number): void
  /** Playback started, stopped or changed speed (the recordings follow). */
  changed?(playing: boolean, speed: number): void
}

export class ReplayPlayer {
  readonly el: HTMLElement
  private readonly host: PlayerHost
  private readonly playButton: HTMLButtonElement
  private readonly speedButtons: HTMLButtonElement[]
  private speed: PlaySpeed = PLAY_SPEEDS[0]
  private timer: ReturnType<typeof setInterval> | null = null
  private lastTick = 0

  constructor(host: PlayerHost) {
    this.host = host
    this.playButton = h('button', { type: 'button', class: 'button small', testid: 'replay-play', 'aria-pressed': 'false', on: { click: () => this.toggle() } }, '▶ Play')
    this.speedButtons = PLAY_SPEEDS.map((s) =>
      h(
        'button',
        { type: 'button', class: 'seg', testid: `replay-speed-${s}`, 'aria-pressed': String(s === this.speed), 'aria-label': `Speed ${s} times`, on: { click: () => this.setSpeed(s) } },
        `${s}×`,
      ),
    )
    const jump = (dir: 1 | -1, label: string, text: string, testid: string) =>
      h('button', { type: 'button', class: 'button small ghost', testid, 'aria-label': label, title: label, on: { click: () => this.jump(dir) } }, text)
    this.el = h(
      'div',
      { class: 'replay-player', role: 'group', 'aria-label': 'Replay playback' },
      jump(-1, 'Previous event', '‹ Prev', 'replay-prev'),
      this.playButton,
      jump(1, 'Next event', 'Next ›', 'replay-next'),
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'Speed' }, ...this.speedButtons),
    )
  }

  get playing(): boolean {
    return this.timer !== null
  }

  toggle(): void {
    if (this.playing) this.stop()
    else this.play()
  }

  play(): void {
    if (this.playing) return
    // Playing from the end starts over.
    if (this.host.position() >= this.host.max()) this.host.seek(0)
    this.lastTick = Date.now()
    this.timer = setInterval(() => this.tick(), PLAY_TICK_MS)
    this.render()
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.render()
  }

  private tick(): void {
    if (this.host.busy()) return
    const now = Date.now()
    const at = playbackPosition(this.host.position(), now - this.lastTick, this.speed, this.host.max())
    this.lastTick = now
    this.host.seek(at)
    if (at >= this.host.max()) this.stop()
  }

  private setSpeed(s: PlaySpeed): void {
    this.speed = s
    this.render()
  }

  private jump(dir: 1 | -1): void {
    const at = adjacentEvent(this.host.events(), this.host.position(), dir)
    if (at === null) return
    this.lastTick = Date.now()
    this.host.seek(at)
  }

  private render(): void {
    this.playButton.textContent = this.playing ? '❚❚ Pause' : '▶ Play'
    this.playButton.setAttribute('aria-pressed', String(this.playing))
    this.playButton.setAttribute('aria-label', this.playing ? 'Pause the replay' : 'Play the replay')
    this.playButton.dataset.playing = String(this.playing)
    PLAY_SPEEDS.forEach((s, i) => this.speedButtons[i].setAttribute('aria-pressed', String(s === this.speed)))
    this.host.changed?.(this.playing, this.speed)
  }
}
