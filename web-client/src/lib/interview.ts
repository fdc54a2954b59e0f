// The interview around the editor: the server's shapes for room state, questions and the candidate's
// integrity notes (protocol/src/interview.rs), their API calls, and the pure text behind the clock and
// the candidate's banner. Pure apart from the calls, so it is unit-tested.

import { request, type Client } from './api'
import { formatClock } from './format'
import type { Flag, PromoteOptions, Promoted, RoomSession, RoomStatus } from './types'

/** Mirrors `MAX_QUESTION_CHARS` in protocol/src/limits.rs. */
export const MAX_QUESTION_CHARS = 2000
/** Mirrors `MAX_INTEGRITY_NOTE_CHARS` in protocol/src/limits.rs. */
export const MAX_INTEGRITY_NOTE_CHARS = 500

/** Where a room stands (`RoomState`). */
export interface RoomState {
  id: string
  status: RoomStatus
  started_at_ms: number
  ended_at_ms?: number
  reopen_until_ms?: number
}

/** The session as this server sends it: the base contract plus the room's state and clock. */
export interface InterviewSession extends RoomSession {
  exercise: RoomSession['exercise'] & { brief?: string }
  state?: RoomState
  duration_min?: number
  now_ms?: number
}

export interface Question {
  n: number
  at_ms: number
  text: string
}

export interface IntegrityNote {
  kind: string
  at_ms: number
  note: string
  written_at_ms: number
}

export interface CandidateIntegrity {
  flags: Flag[]
  notes: IntegrityNote[]
}

const enc = encodeURIComponent

export const interviewApi = {
  questions: (c: Client, roomId: string) =>
    request<{ questions: Question[] }>(c, 'GET', `/api/v1/rooms/${enc(roomId)}/questions`),
  pushQuestion: (c: Client, roomId: string, text: string) =>
    request<Question>(c, 'POST', `/api/v1/rooms/${enc(roomId)}/questions`, { text }),
  integrity: (c: Client, roomId: string) =>
    request<CandidateIntegrity>(c, 'GET', `/api/v1/rooms/${enc(roomId)}/integrity`),
  setIntegrityNote: (c: Client, roomId: string, kind: string, atMs: number, note: string) =>
    request<null>(c, 'PUT', `/api/v1/rooms/${enc(roomId)}/integrity/notes`, { kind, at_ms: atMs, note }),
  reopen: (c: Client, roomId: string) =>
    request<{ room: { id: string; status: RoomStatus } }>(c, 'POST', `/api/v1/rooms/${enc(roomId)}/reopen`),
}

/** A promote's answer, saying what it did. */
export type PromotedWithOutcome = Promoted & { outcome?: 'opened' | 'live' | 'reopened' }

/** Promotes a submission whose room ended: `reopen` that room (within its window) or start a `new` one. */
export function promoteOnEnded(
  c: Client,
  id: string,
  name: string,
  onEnded: 'reopen' | 'new',
  options?: PromoteOptions,
): Promise<PromotedWithOutcome> {
  return request<PromotedWithOutcome>(c, 'POST', `/api/v1/submissions/${enc(id)}/promote`, { interviewer: { name }, on_ended: onEnded, ...options })
}

/** The candidate's banner: only what is true of this room. */
export function candidateBanner(voice: boolean, recordVoice: boolean = voice): string {
  if (!voice) return 'This is a live follow-up on your submission. This session is recorded.'
  return recordVoice
    ? 'This is a live follow-up on your submission. Voice is optional: join it only if you want to. This session is recorded, voice included.'
    : 'This is a live follow-up on your submission. Voice is optional: join it only if you want to. This session is recorded; voice is not.'
}

/**
 * The room's clock: the time since it opened and, when promote gave a length, the time left (or over).
 * `nowMs` is on the server's clock.
 */
export function clockText(startedAtMs: number, nowMs: number, durationMin?: number): { elapsed: string; left: string | null; over: boolean } {
  const elapsedMs = Math.max(0, nowMs - startedAtMs)
  if (durationMin === undefined) return { elapsed: formatClock(elapsedMs), left: null, over: false }
  const leftMs = durationMin * 60_000 - elapsedMs
  return {
    elapsed: formatClock(elapsedMs),
    left: leftMs >= 0 ? `${formatClock(leftMs)} left` : `${formatClock(-leftMs)} over`,
    over: leftMs < 0,
  }
}

/** Where a room stands, in words: "Live", "Ended · can be reopened until 14:05", "Ended". */
export function roomStateText(state: RoomState | null | undefined, nowMs: number, at: (ms: number) => string): string {
  if (!state) return 'Not promoted'
  if (state.status === 'live') return 'Live'
  if (state.reopen_until_ms !== undefined && nowMs < state.reopen_until_ms) return `Ended · can be reopened until ${at(state.reopen_until_ms)}`
  return 'Ended'
}

/** Whether an ended room can still be reopened at `nowMs`. */
export function reopenable(state: RoomState | null | undefined, nowMs: number): boolean {
  return state?.status === 'ended' && state.reopen_until_ms !== undefined && nowMs < state.reopen_until_ms
}

/** A room event (extension message 100): a question pushed to the room, or something this client does not know. */
export function parseRoomEvent(json: string): { event: 'question'; question: Question } | null {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    return null
  }
  if (value === null || typeof value !== 'object') return null
  const v = value as Record<string, unknown>
  if (v.event === 'question' && typeof v.n === 'number' && typeof v.text === 'string' && typeof v.at_ms === 'number') {
    return { event: 'question', question: { n: v.n, at_ms: v.at_ms, text: v.text } }
  }
  return null
}

/** Merges questions by their number, in order (a live event and a fetch may both bring one). */
export function mergeQuestions(known: readonly Question[], more: readonly Question[]): Question[] {
  const byN = new Map<number, Question>()
  for (const q of [...known, ...more]) byN.set(q.n, q)
  return [...byN.values()].sort((a, b) => a.n - b.n)
}
