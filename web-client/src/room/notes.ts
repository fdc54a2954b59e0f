// Saving private notes: debounced while typing, one request at a time, the latest text always wins.

export type SaveState = 'idle' | 'pending' | 'saving' | 'saved' | 'error'

export interface SaveStatus {
  state: SaveState
  text: string
}

/** Save this long after typing stops. */
export const NOTES_DEBOUNCE_MS = 800

export class NotesSaver {
  private readonly save: (notes: string) => Promise<void>
  private readonly report: (s: SaveStatus) => void
  private readonly delayMs: number
  private timer: ReturnType<typeof setTimeout> | null = null
  private latest: string | null = null
  private inFlight = false
  private idle: Array<() => void> = []

  constructor(save: (notes: string) => Promise<void>, report: (s: SaveStatus) => void, delayMs = NOTES_DEBOUNCE_MS) {
    this.save = save
    this.report = report
    this.delayMs = delayMs
  }

  edit(notes: string): void {
    this.latest = notes
    this.report({ state: 'pending', text: 'Editing…' })
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = setTimeout(() => this.flush(), this.delayMs)
  }

  /** Saves anything unsaved now and resolves once nothing is pending or in flight (or a save failed). */
  settle(): Promise<void> {
    this.flush()
    if (!this.inFlight) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }

  private wake(): void {
    const waiting = this.idle
    this.idle = []
    for (const resolve of waiting) resolve()
  }

  /** Saves now if anything is unsaved. */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    if (this.inFlight || this.latest === null) return
    const notes = this.latest
    this.latest = null
    this.inFlight = true
    this.report({ state: 'saving', text: 'Saving…' })
    this.save(notes).then(
      () => {
        this.inFlight = false
        if (this.latest !== null) this.flush()
        else {
          this.report({ state: 'saved', text: 'Saved' })
          this.wake()
        }
      },
      (e: unknown) => {
        this.inFlight = false
        // Keep the text to retry with the next edit or blur, unless newer text replaced it.
        if (this.latest === null) this.latest = notes
        this.report({ state: 'error', text: `Not saved: ${e instanceof Error ? e.message : String(e)}` })
        this.wake()
      },
    )
  }
}
