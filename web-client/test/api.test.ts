import { describe, expect, it } from 'vitest'
import { ApiError, api, errorFromBody, parseSubmissionFile, request, roomRefusal, type Fetch } from '../src/lib/api'

function fakeFetch(status: number, body: string, seen: Array<{ url: string; init?: RequestInit }> = []): Fetch {
  return async (url, init) => {
    seen.push({ url, init })
    return new Response(body === '' ? null : body, { status, headers: { 'content-type': 'application/json' } })
  }
}

describe('request', () => {
  it('sends the bearer credential and JSON body, and parses the answer', async () => {
    const seen: Array<{ url: string; init?: RequestInit }> = []
    const out = await api.promote({ credential: 'k', fetch: fakeFetch(200, '{"room":{"id":"r","status":"live"}}', seen) }, 'sub 1', 'Grace')
    expect(out.room.id).toBe('r')
    expect(seen[0]!.url).toBe('/api/v1/submissions/sub%201/promote')
    const headers = seen[0]!.init!.headers as Record<string, string>
    expect(headers.authorization).toBe('Bearer k')
    expect(headers['content-type']).toBe('application/json')
    expect(JSON.parse(seen[0]!.init!.body as string)).toEqual({ interviewer: { name: 'Grace' } })
  })
  it('accepts an empty 204', async () => {
    await expect(api.saveNotes({ credential: 't', fetch: fakeFetch(204, '') }, 'r', 'n')).resolves.toBeNull()
  })
  it('turns the error shape into an ApiError', async () => {
    const err = await request({ credential: 't', fetch: fakeFetch(403, '{"error":{"code":"room_ended","message":"this interview has ended"}}') }, 'GET', '/x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 403, code: 'room_ended', message: 'this interview has ended' })
    expect(roomRefusal(err)).toBe('ended')
  })
  it('copes with non-JSON errors and network failures', async () => {
    const e1 = await request({ credential: null, fetch: fakeFetch(502, '<html>bad gateway</html>') }, 'GET', '/x').catch((e: unknown) => e)
    expect(e1).toMatchObject({ status: 502, code: 'http_502' })
    const e2 = await request({ credential: null, fetch: () => Promise.reject(new TypeError('offline')) }, 'GET', '/x').catch((e: unknown) => e)
    expect(e2).toMatchObject({ status: 0, code: 'network' })
  })
  it('does not send an authorization header without a credential', async () => {
    const seen: Array<{ url: string; init?: RequestInit }> = []
    await request({ credential: null, fetch: fakeFetch(200, '{}', seen) }, 'GET', '/x')
    expect((seen[0]!.init!.headers as Record<string, string>).authorization).toBeUndefined()
  })
})

describe('roomRefusal', () => {
  it('maps statuses to why a room cannot open', () => {
    expect(roomRefusal(new ApiError(401, 'unauthorized', ''))).toBe('unauthorized')
    expect(roomRefusal(new ApiError(404, 'not_found', ''))).toBe('not-found')
    expect(roomRefusal(new ApiError(403, 'forbidden', ''))).toBe('forbidden')
    expect(roomRefusal(new ApiError(500, 'internal', ''))).toBeNull()
    expect(roomRefusal(new Error('x'))).toBeNull()
  })
  it('reads bodies that are not the contract', () => {
    expect(errorFromBody(418, "I'm a teapot", { nope: 1 })).toMatchObject({ code: 'http_418', message: "I'm a teapot" })
  })
})

describe('parseSubmissionFile', () => {
  it('accepts a submission object', () => {
    const r = parseSubmissionFile('{"candidate":{"name":"A"},"exercise":{"title":"T"},"files":[]}')
    expect(r.ok).toBe(true)
  })
  it('explains what is wrong', () => {
    expect(parseSubmissionFile('{oops')).toMatchObject({ ok: false })
    expect(parseSubmissionFile('[1]')).toMatchObject({ ok: false, message: 'The file must hold one JSON object: a submission.' })
    expect(parseSubmissionFile('{"candidate":{}}')).toMatchObject({ ok: false, message: 'The submission is missing exercise, files.' })
    expect(parseSubmissionFile('{"candidate":{},"exercise":{},"files":{}}')).toMatchObject({ ok: false })
  })
})
