// Which files differ from the frozen submission. Comparing a 2 MiB file costs a full string read, so the
// room only re-checks the files an update touched (ChangeTracker), and only after edits pause.

export type ChangeKind = 'modified' | 'added' | 'deleted'

/** Compares one file with its submitted content (`undefined` when it was not in the submission). */
export function changeOf(current: string | undefined, submitted: string | undefined): ChangeKind | null {
  if (current === undefined) return submitted === undefined ? null : 'deleted'
  if (submitted === undefined) return 'added'
  return current === submitted ? null : 'modified'
}

/** Every difference between the current files and the submission. */
export function diffFileSets(
  current: ReadonlyMap<string, string>,
  submitted: ReadonlyMap<string, string>,
): Map<string, ChangeKind> {
  const out = new Map<string, ChangeKind>()
  for (const path of new Set([...current.keys(), ...submitted.keys()])) {
    const kind = changeOf(current.get(path), submitted.get(path))
    if (kind !== null) out.set(path, kind)
  }
  return out
}

/** Where the current files come from: a length check first, so unchanged-length files skip the read. */
export interface FileSource {
  has(path: string): boolean
  length(path: string): number
  read(path: string): string
}

/**
 * Keeps the set of changed files up to date incrementally: `touch` marks paths dirty as updates arrive;
 * `flush` re-checks only those.
 */
export class ChangeTracker {
  private readonly submitted: ReadonlyMap<string, string>
  private readonly dirty = new Set<string>()
  readonly changes = new Map<string, ChangeKind>()

  constructor(submitted: ReadonlyMap<string, string>) {
    this.submitted = submitted
  }

  touch(path: string): void {
    this.dirty.add(path)
  }

  touchAll(paths: Iterable<string>): void {
    for (const p of paths) this.dirty.add(p)
    for (const p of this.submitted.keys()) this.dirty.add(p)
  }

  get pending(): boolean {
    return this.dirty.size > 0
  }

  /** Re-checks the dirty paths; returns true when the set of changes moved. */
  flush(source: FileSource): boolean {
    let moved = false
    for (const path of this.dirty) {
      const submitted = this.submitted.get(path)
      let kind: ChangeKind | null
      if (!source.has(path)) kind = submitted === undefined ? null : 'deleted'
      else if (submitted === undefined) kind = 'added'
      else if (source.length(path) !== submitted.length) kind = 'modified'
      else kind = source.read(path) === submitted ? null : 'modified'
      const before = this.changes.get(path) ?? null
      if (before !== kind) {
        moved = true
        if (kind === null) this.changes.delete(path)
        else this.changes.set(path, kind)
      }
    }
    this.dirty.clear()
    return moved
  }
}
