// The file tree: folders and files as buttons (Tab reaches each, Enter opens), with a dot on files that
// changed since the submission.

import type { ChangeKind } from '../lib/changes'
import { ancestorDirs, buildTree, type DirNode } from '../lib/filetree'
import { clear, h } from './dom'

const CHANGE_TEXT: Record<ChangeKind, string> = {
  modified: 'changed since the submission',
  added: 'added since the submission',
  deleted: 'deleted since the submission',
}

export class FileTree {
  readonly el: HTMLElement
  private paths: string[] = []
  private changes: ReadonlyMap<string, ChangeKind> = new Map()
  private active: string | null = null
  private readonly collapsed = new Set<string>()
  private readonly onOpen: (path: string) => void

  constructor(onOpen: (path: string) => void, label = 'Files') {
    this.onOpen = onOpen
    this.el = h('nav', { class: 'file-tree', 'aria-label': label, testid: 'file-tree' })
  }

  setPaths(paths: Iterable<string>): void {
    this.paths = [...paths]
    this.render()
  }

  setChanges(changes: ReadonlyMap<string, ChangeKind>): void {
    this.changes = changes
    this.render()
  }

  setActive(path: string | null): void {
    this.active = path
    if (path) for (const dir of ancestorDirs(path)) this.collapsed.delete(dir)
    this.render()
  }

  private render(): void {
    // Keep keyboard focus on the same item across re-renders (changes arrive while someone tabs).
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.key
    clear(this.el)
    // Deleted files stay listed (with their mark) so the interviewer can still diff them.
    const deleted = [...this.changes].filter(([, kind]) => kind === 'deleted').map(([path]) => path)
    const root = buildTree([...this.paths, ...deleted])
    this.el.append(this.renderDir(root, 0))
    if (focused) this.el.querySelector<HTMLElement>(`[data-key="${CSS.escape(focused)}"]`)?.focus()
  }

  private renderDir(dir: DirNode, depth: number): HTMLElement {
    const list = h('ul', { class: 'tree-list', role: depth === 0 ? undefined : 'group' })
    for (const node of dir.children) {
      const indent = `padding-left: ${0.6 + depth * 0.9}rem`
      if (node.kind === 'dir') {
        const open = !this.collapsed.has(node.path)
        const changedInside = [...this.changes.keys()].some((p) => p.startsWith(`${node.path}/`))
        const button = h(
          'button',
          {
            type: 'button',
            class: 'tree-item tree-dir',
            style: indent,
            'aria-expanded': String(open),
            'data-key': `d:${node.path}`,
            on: {
              click: () => {
                if (open) this.collapsed.add(node.path)
                else this.collapsed.delete(node.path)
                this.render()
              },
            },
          },
          h('span', { class: 'twisty', 'aria-hidden': 'true' }, open ? '▾' : '▸'),
          h('span', { class: 'name' }, node.name),
          changedInside ? h('span', { class: 'change-dot', title: 'contains changes', 'aria-hidden': 'true' }) : null,
        )
        list.append(h('li', null, button, open ? this.renderDir(node, depth + 1) : null))
      } else {
        const change = this.changes.get(node.path)
        const isActive = node.path === this.active
        const button = h(
          'button',
          {
            type: 'button',
            class: `tree-item tree-file${isActive ? ' active' : ''}${change ? ` ${change}` : ''}`,
            style: indent,
            title: change ? `${node.path} (${CHANGE_TEXT[change]})` : node.path,
            'aria-current': isActive ? 'true' : undefined,
            'aria-label': change ? `${node.path}, ${CHANGE_TEXT[change]}` : node.path,
            'data-key': `f:${node.path}`,
            'data-path': node.path,
            'data-changed': change ?? undefined,
            testid: 'tree-file',
            on: { click: () => this.onOpen(node.path) },
          },
          h('span', { class: 'name' }, node.name),
          change ? h('span', { class: `change-dot ${change}`, 'aria-hidden': 'true', testid: 'change-dot' }) : null,
        )
        list.append(h('li', null, button))
      }
    }
    return list
  }
}
