// Client-side routes. The server answers every non-API GET with index.html, so the path alone decides.

export type Route =
  | { kind: 'dashboard' }
  | { kind: 'submission'; id: string }
  | { kind: 'room'; roomId: string }
  | { kind: 'not-found' }

export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter((p) => p !== '')
  if (parts.length === 0) return { kind: 'dashboard' }
  const [head, id] = parts
  if (parts.length === 2 && id !== undefined) {
    const decoded = safeDecode(id)
    if (decoded === null) return { kind: 'not-found' }
    if (head === 'room') return { kind: 'room', roomId: decoded }
    if (head === 'submissions') return { kind: 'submission', id: decoded }
  }
  return { kind: 'not-found' }
}

export function submissionPath(id: string): string {
  return `/submissions/${encodeURIComponent(id)}`
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s)
  } catch {
    return null
  }
}
