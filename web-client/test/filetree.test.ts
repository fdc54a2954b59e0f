import { describe, expect, it } from 'vitest'
import { ancestorDirs, buildTree, filesInTreeOrder, type DirNode, type TreeNode } from '../src/lib/filetree'

function shape(node: TreeNode): unknown {
  return node.kind === 'file' ? node.name : { [node.name]: node.children.map(shape) }
}

describe('buildTree', () => {
  it('nests folders and sorts folders first, then names case-insensitively', () => {
    const root = buildTree(['src/b.py', 'README.md', 'src/a.py', 'tests/test_a.py', 'Makefile', 'src/util/x.py', 'a.txt'])
    expect(root.children.map(shape)).toEqual([
      { src: [{ util: ['x.py'] }, 'a.py', 'b.py'] },
      { tests: ['test_a.py'] },
      'a.txt',
      'Makefile',
      'README.md',
    ])
  })
  it('keeps full paths on every node', () => {
    const root = buildTree(['a/b/c.py'])
    const a = root.children[0] as DirNode
    const b = a.children[0] as DirNode
    expect([a.path, b.path, b.children[0]!.path]).toEqual(['a', 'a/b', 'a/b/c.py'])
  })
  it('ignores duplicates and empty paths', () => {
    expect(filesInTreeOrder(buildTree(['x.py', 'x.py', '']))).toEqual(['x.py'])
  })
  it('handles a folder and a file that share a prefix', () => {
    expect(filesInTreeOrder(buildTree(['ab.py', 'a/b.py']))).toEqual(['a/b.py', 'ab.py'])
  })
})

describe('ancestorDirs', () => {
  it('lists the enclosing folders outermost first', () => {
    expect(ancestorDirs('a/b/c.py')).toEqual(['a', 'a/b'])
    expect(ancestorDirs('c.py')).toEqual([])
  })
})
