import { describe, expect, it } from 'vitest'
import { ChangeTracker, changeOf, diffFileSets, type FileSource } from '../src/lib/changes'

function source(files: Map<string, string>, reads: string[] = []): FileSource {
  return {
    has: (p) => files.has(p),
    length: (p) => files.get(p)?.length ?? 0,
    read: (p) => {
      reads.push(p)
      return files.get(p) ?? ''
    },
  }
}

describe('changeOf / diffFileSets', () => {
  it('classifies each file', () => {
    expect(changeOf('a', 'a')).toBeNull()
    expect(changeOf('a', 'b')).toBe('modified')
    expect(changeOf('a', undefined)).toBe('added')
    expect(changeOf(undefined, 'a')).toBe('deleted')
    expect(changeOf(undefined, undefined)).toBeNull()
  })
  it('diffs whole sets', () => {
    const now = new Map([['same.py', 'x'], ['edited.py', 'y2'], ['new.py', 'n']])
    const then = new Map([['same.py', 'x'], ['edited.py', 'y'], ['gone.py', 'g']])
    expect(Object.fromEntries(diffFileSets(now, then))).toEqual({ 'edited.py': 'modified', 'new.py': 'added', 'gone.py': 'deleted' })
  })
})

describe('ChangeTracker', () => {
  const submitted = new Map([['a.py', 'print(1)\n'], ['b.py', 'x = 2\n']])

  it('starts clean when the files equal the submission', () => {
    const t = new ChangeTracker(submitted)
    t.touchAll(submitted.keys())
    expect(t.flush(source(new Map(submitted)))).toBe(false)
    expect(t.changes.size).toBe(0)
  })

  it('marks an edit and unmarks it when it is undone', () => {
    const files = new Map(submitted)
    const t = new ChangeTracker(submitted)
    files.set('a.py', 'print(1)\n# hi\n')
    t.touch('a.py')
    expect(t.flush(source(files))).toBe(true)
    expect(t.changes.get('a.py')).toBe('modified')
    files.set('a.py', 'print(1)\n')
    t.touch('a.py')
    expect(t.flush(source(files))).toBe(true)
    expect(t.changes.has('a.py')).toBe(false)
  })

  it('only re-checks dirty files, and skips the read when the length differs', () => {
    const files = new Map(submitted)
    files.set('b.py', 'x = 22\n')
    const reads: string[] = []
    const t = new ChangeTracker(submitted)
    t.touch('b.py')
    t.flush(source(files, reads))
    expect(t.changes.get('b.py')).toBe('modified')
    expect(reads).toEqual([]) // length differed
    files.set('b.py', 'x = 3\n') // same length as submitted
    t.touch('b.py')
    t.flush(source(files, reads))
    expect(reads).toEqual(['b.py'])
    expect(t.pending).toBe(false)
  })

  it('tracks added and deleted files', () => {
    const files = new Map(submitted)
    files.delete('b.py')
    files.set('c.py', '')
    const t = new ChangeTracker(submitted)
    t.touchAll(files.keys())
    t.flush(source(files))
    expect(Object.fromEntries(t.changes)).toEqual({ 'b.py': 'deleted', 'c.py': 'added' })
  })

  it('reports no movement when nothing changed', () => {
    const t = new ChangeTracker(submitted)
    t.touch('a.py')
    expect(t.flush(source(new Map(submitted)))).toBe(false)
  })
})
