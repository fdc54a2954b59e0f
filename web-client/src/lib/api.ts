// The one way the client talks HTTP to the server: JSON in, JSON out, every failure an ApiError carrying
// the server's `{"error":{"code","message"}}` (or a synthetic one when the network or body failed).

import type { LiveScore, PrivatePanel, PromoteOptions, Promoted, Replay, RoomExport, RoomSession, Submission, SubmissionListItem, Timeline } from './types'

export class ApiError extends Error {
  readonly status: number
  readonly code: string

  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>

export interface Client {
  credential: string | null
  fetch?: Fetch
}

/** Reads the error shape; falls back to the status text when the body is not the contract's. */
export function errorFromBody(status: number, statusText: string, body: unknown): ApiError {
  if (body !== null && typeof body === 'object' && 'error' in body) {
    const e = (body as { error: unknown }).error
    if (e !== null && typeof e === 'object') {
      const { code, message } = e as { code?: unknown; message?: unknown }
      if (typeof code === 'string') return new ApiError(status, code, typeof message === 'string' ? message : code)
    }
  }
  return new ApiError(status, `http_${status}`, statusText || `HTTP ${status}`)
}

export async function request<T>(client: Client, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (client.credential) headers.authorization = `Bearer ${client.credential}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const doFetch = client.fetch ?? ((input: string, init?: RequestInit) => fetch(input, init))
  let res: Response
  try {
    res = await doFetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  } catch (e) {
    throw new ApiError(0, 'network', `Could not reach the server (${e instanceof Error ? e.message : String(e)}).`)
  }
  const text = await res.text()
  let parsed: unknown = null
  if (text !== '') {
    try {
      parsed = JSON.parse(text)
    } catch {
      if (res.ok) throw new ApiError(res.status, 'bad_response', 'The server answered with something that is not JSON.')
    }
  }
  if (!res.ok) throw errorFromBody(res.status, res.statusText, parsed)
  return parsed as T
}

const enc = encodeURIComponent

export const api = {
  listSubmissions: (c: Client) => request<{ submissions: SubmissionListItem[] }>(c, 'GET', '/api/v1/submissions'),
  getSubmission: (c: Client, id: string) => request<Submission>(c, 'GET', `/api/v1/submissions/${enc(id)}`),
  createSubmission: (c: Client, body: unknown) => request<{ id: string }>(c, 'POST', '/api/v1/submissions', body),
  promote: (c: Client, id: string, interviewerName: string, options?: PromoteOptions) =>
    request<Promoted>(c, 'POST', `/api/v1/submissions/${enc(id)}/promote`, { interviewer: { name: interviewerName }, ...options }),
  session: (c: Client, roomId: string) => request<RoomSession>(c, 'GET', `/api/v1/rooms/${enc(roomId)}/session`),
  privatePanel: (c: Client, roomId: string) => request<PrivatePanel>(c, 'GET', `/api/v1/rooms/${enc(roomId)}/private`),
  saveNotes: (c: Client, roomId: string, notes: string) =>
    request<null>(c, 'PUT', `/api/v1/rooms/${enc(roomId)}/notes`, { notes }),
  timeline: (c: Client, roomId: string) => request<Timeline>(c, 'GET', `/api/v1/rooms/${enc(roomId)}/timeline`),
  replay: (c: Client, roomId: string, atMs: number) =>
    request<Replay>(c, 'GET', `/api/v1/rooms/${enc(roomId)}/replay?at_ms=${Math.max(0, Math.round(atMs))}`),
  exportRoom: (c: Client, roomId: string) => request<RoomExport>(c, 'GET', `/api/v1/rooms/${enc(roomId)}/export`),
  saveScores: (c: Client, roomId: string, scores: LiveScore[]) =>
    request<null>(c, 'PUT', `/api/v1/rooms/${enc(roomId)}/scores`, { scores }),
  endRoom: (c: Client, roomId: string) => request<{ room: { id: string; status: string } }>(c, 'POST', `/api/v1/rooms/${enc(roomId)}/end`),
}

/** Why a room cannot be opened, from a session error; null when the error is something else. */
export function roomRefusal(e: unknown): 'ended' | 'unauthorized' | 'not-found' | 'forbidden' | null {
  if (!(e instanceof ApiError)) return null
  if (e.status === 403 && e.code === 'room_ended') return 'ended'
  if (e.status === 401) return 'unauthorized'
  if (e.status === 404) return 'not-found'
  if (e.status === 403) return 'forbidden'
  return null
}

/** Checks an imported file before sending it, so obvious mistakes get a clear message locally. */
export function parseSubmissionFile(text: string): { ok: true; body: unknown } | { ok: false; message: string } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return { ok: false, message: `The file is not valid JSON (${e instanceof Error ? e.message : String(e)}).` }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, message: 'The file must hold one JSON object: a submission.' }
  }
  const v = value as Record<string, unknown>
  const missing = ['candidate', 'exercise', 'files'].filter((k) => !(k in v))
  if (missing.length > 0) return { ok: false, message: `The submission is missing ${missing.join(', ')}.` }
  if (!Array.isArray(v.files)) return { ok: false, message: '"files" must be a list of {path, content}.' }
  return { ok: true, body: value }
}
