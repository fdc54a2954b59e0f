// CodeMirror language support per language id, loaded on demand (each package is its own chunk).

import type { Extension } from '@codemirror/state'
import type { LanguageId } from '../lib/language'

const loaders: Record<LanguageId, () => Promise<Extension>> = {
  python: () => import('@codemirror/lang-python').then((m) => m.python()),
  javascript: () => import('@codemirror/lang-javascript').then((m) => m.javascript()),
  jsx: () => import('@codemirror/lang-javascript').then((m) => m.javascript({ jsx: true })),
  typescript: () => import('@codemirror/lang-javascript').then((m) => m.javascript({ typescript: true })),
  tsx: () => import('@codemirror/lang-javascript').then((m) => m.javascript({ typescript: true, jsx: true })),
  java: () => import('@codemirror/lang-java').then((m) => m.java()),
  go: () => import('@codemirror/lang-go').then((m) => m.go()),
  rust: () => import('@codemirror/lang-rust').then((m) => m.rust()),
  cpp: () => import('@codemirror/lang-cpp').then((m) => m.cpp()),
}

const cache = new Map<LanguageId, Promise<Extension>>()

export function loadLanguage(id: LanguageId): Promise<Extension> {
  let p = cache.get(id)
  if (!p) {
    p = loaders[id]().catch((e: unknown) => {
      cache.delete(id)
      throw e
    })
    cache.set(id, p)
  }
  return p
}
