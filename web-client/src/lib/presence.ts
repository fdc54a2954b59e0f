// Joins and leaves as sentences for screen readers, from two snapshots of who is in the room. Pure, so
// it is unit-tested.

export interface Present {
  name: string
  role: string
}

/**
 * "Ada (candidate) joined the room." / "… left the room." for each person whose connection count
 * went from 0 to some or back between `before` and `after` (client id → person). A person with two
 * tabs is announced once; a reconnect (a new id for the same person) is silent.
 */
export function presenceAnnouncements(before: ReadonlyMap<number, Present>, after: ReadonlyMap<number, Present>): string[] {
  const key = (p: Present) => `${p.role}\u0000${p.name}`
  const count = (m: ReadonlyMap<number, Present>) => {
    const c = new Map<string, Present>()
    for (const p of m.values()) c.set(key(p), p)
    return c
  }
  const was = count(before)
  const now = count(after)
  const out: string[] = []
  for (const [k, p] of now) if (!was.has(k)) out.push(`${p.name} (${p.role}) joined the room.`)
  for (const [k, p] of was) if (!now.has(k)) out.push(`${p.name} (${p.role}) left the room.`)
  return out
}
