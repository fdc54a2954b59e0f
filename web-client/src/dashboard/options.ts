// The room's options at promote: its length (the candidate's clock), whether it has a voice channel and
// records it, and whether the candidate sees their integrity signals. A reopen keeps the room's own
// options; these apply to a room about to open.

import type { PromoteOptions } from '../lib/types'
import { h } from '../ui/dom'

/** Mirrors `MAX_DURATION_MIN` in protocol/src/limits.rs: a longer length is refused with 400. */
export const MAX_DURATION_MIN = 480

const OPTIONS_KEY = 'handoff.promoteOptions'

interface Stored {
  duration: string
  voice: boolean
  recordVoice: boolean
  candidateSeesIntegrity: boolean
}

function stored(): Stored {
  const fallback: Stored = { duration: '', voice: true, recordVoice: true, candidateSeesIntegrity: false }
  try {
    const raw = JSON.parse(localStorage.getItem(OPTIONS_KEY) ?? 'null') as Partial<Stored> | null
    return { ...fallback, ...(raw ?? {}) }
  } catch {
    return fallback
  }
}

/** Reads a length field: a whole number of minutes in range, nothing when empty, an error otherwise. */
export function parseDuration(text: string): { ok: true; minutes?: number } | { ok: false; message: string } {
  const t = text.trim()
  if (t === '') return { ok: true }
  const n = Number(t)
  if (!Number.isInteger(n) || n < 1 || n > MAX_DURATION_MIN) {
    return { ok: false, message: `The length is a whole number of minutes from 1 to ${MAX_DURATION_MIN}.` }
  }
  return { ok: true, minutes: n }
}

/** The options' fields; `read` returns the body fields, or throws an Error naming what to fix. */
export function promoteOptions(): { el: HTMLElement; read: () => PromoteOptions } {
  const last = stored()
  const checkbox = (id: string, checked: boolean) => h('input', { id, type: 'checkbox', checked, testid: id })
  const duration = h('input', {
    id: 'promote-duration',
    type: 'number',
    min: '1',
    max: String(MAX_DURATION_MIN),
    step: '1',
    inputmode: 'numeric',
    placeholder: 'none',
    value: last.duration,
    testid: 'promote-duration',
  })
  const voice = checkbox('promote-voice', last.voice)
  const record = checkbox('promote-record-voice', last.recordVoice && last.voice)
  const integrity = checkbox('promote-candidate-integrity', last.candidateSeesIntegrity)
  record.disabled = !voice.checked
  voice.addEventListener('change', () => {
    record.disabled = !voice.checked
    if (!voice.checked) record.checked = false
  })
  const field = (input: HTMLElement, label: string) => h('label', { class: 'option' }, input, ` ${label}`)
  const el = h(
    'fieldset',
    { class: 'promote-options', testid: 'promote-options' },
    h('legend', { class: 'muted small' }, 'Room options'),
    h('label', { class: 'option', for: 'promote-duration' }, 'Length in minutes ', duration),
    field(voice, 'Voice channel'),
    field(record, 'Record voice'),
    field(integrity, 'Candidate sees their integrity signals'),
  )
  const read = (): PromoteOptions => {
    const length = parseDuration(duration.value)
    if (!length.ok) {
      duration.focus()
      throw new Error(length.message)
    }
    localStorage.setItem(
      OPTIONS_KEY,
      JSON.stringify({ duration: duration.value.trim(), voice: voice.checked, recordVoice: record.checked, candidateSeesIntegrity: integrity.checked }),
    )
    return {
      voice: voice.checked,
      record_voice: voice.checked && record.checked,
      candidate_sees_integrity: integrity.checked,
      ...(length.minutes !== undefined ? { duration_min: length.minutes } : {}),
    }
  }
  return { el, read }
}
