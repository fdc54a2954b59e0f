// Builds a folder tree from flat `/`-separated paths, the order the file tree shows: folders first, then
// files, each by name (case-insensitive, then exact, so the order is total and stable).

export interface FileNode {
  kind: 'file'
  name: string
  path: string
}

export interface DirNode {
  kind: 'dir'
  name: string
  /** The folder's path without a trailing slash ('' for the root). */
  path: string
  children: TreeNode[]
}

export type TreeNode = FileNode | DirNode

export function buildTree(paths: Iterable<string>): DirNode {
  const root: DirNode = { kind: 'dir', name: '', path: '', children: [] }
  const dirs = new Map<string, DirNode>([['', root]])
  for (const path of new Set(paths)) {
    const parts = path.split('/').filter((p) => p !== '')
    if (parts.length === 0) continue
    let parent = root
    for (let i = 0; i < parts.length - 1; i++) {
      const dirPath = parts.slice(0, i + 1).join('/')
      let dir = dirs.get(dirPath)
      if (!dir) {
        dir = { kind: 'dir', name: parts[i]!, path: dirPath, children: [] }
        dirs.set(dirPath, dir)
        parent.children.push(dir)
      }
      parent = dir
    }
    parent.children.push({ kind: 'file', name: parts[parts.length - 1]!, path })
  }
  sortDeep(root)
  return root
}

function compareNodes(a: TreeNode, b: TreeNode): number {
  if (a.kind !== b.kind) return a.kind === 'dir' ? -1 : 1
  const la = a.name.toLowerCase()
  const lb = b.name.toLowerCase()
  if (la !== lb) return la < lb ? -1 : 1
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}

function sortDeep(dir: DirNode): void {
  dir.children.sort(compareNodes)
  for (const child of dir.children) if (child.kind === 'dir') sortDeep(child)
}

/** File paths in the order the tree shows them. */
export function filesInTreeOrder(root: DirNode): string[] {
  const out: string[] = []
  const walk = (dir: DirNode) => {
    for (const child of dir.children) {
      if (child.kind === 'dir') walk(child)
      else out.push(child.path)
    }
  }
  walk(root)
  return out
}

/** The folders a file sits in, outermost first ('a/b/c.py' → ['a', 'a/b']): to expand them when it opens. */
export function ancestorDirs(path: string): string[] {
  const parts = path.split('/')
  const out: string[] = []
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'))
  return out
}
