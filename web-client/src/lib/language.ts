// Which syntax a file gets, by its extension. Pure: the CodeMirror packages are loaded lazily elsewhere
// (ui/languages.ts), so this stays testable and the main bundle stays small.

export type LanguageId = 'python' | 'javascript' | 'jsx' | 'typescript' | 'tsx' | 'java' | 'go' | 'rust' | 'cpp'

const BY_EXTENSION: Record<string, LanguageId> = {
  py: 'python',
  pyi: 'python',
  js: 'javascript',
  mjs: 'javascript',
  cjs: 'javascript',
  jsx: 'jsx',
  ts: 'typescript',
  mts: 'typescript',
  cts: 'typescript',
  tsx: 'tsx',
  java: 'java',
  go: 'go',
  rs: 'rust',
  c: 'cpp',
  h: 'cpp',
  cc: 'cpp',
  cpp: 'cpp',
  cxx: 'cpp',
  hpp: 'cpp',
  hh: 'cpp',
  hxx: 'cpp',
}

/** The extension of the last path segment, lower-cased, without the dot ('' for none or dotfiles). */
export function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1)
  const dot = name.lastIndexOf('.')
  return dot <= 0 ? '' : name.slice(dot + 1).toLowerCase()
}

export function languageForPath(path: string): LanguageId | null {
  return BY_EXTENSION[extensionOf(path)] ?? null
}

/** Maps an exercise's declared language ("Python", "C++", "golang", …) to a language id. */
export function languageFromName(name: string | undefined): LanguageId | null {
  if (!name) return null
  const n = name.trim().toLowerCase()
  const aliases: Record<string, LanguageId> = {
    python: 'python', python3: 'python', py: 'python',
    javascript: 'javascript', js: 'javascript', node: 'javascript', jsx: 'jsx',
    typescript: 'typescript', ts: 'typescript', tsx: 'tsx',
    java: 'java', go: 'go', golang: 'go', rust: 'rust', rs: 'rust',
    c: 'cpp', 'c++': 'cpp', cpp: 'cpp', cxx: 'cpp',
  }
  return aliases[n] ?? null
}

/** Whether a path looks like a test file (test_x.py, x_test.go, x.test.ts, x.spec.js, tests/…). */
export function isTestPath(path: string): boolean {
  const lower = path.toLowerCase()
  const name = lower.slice(lower.lastIndexOf('/') + 1)
  return (
    /(^|\/)(tests?|__tests__|spec)\//.test(lower) ||
    name.startsWith('test_') ||
    /_test\.[^.]+$/.test(name) ||
    /\.(test|spec)\.[^.]+$/.test(name)
  )
}

/**
 * Which file to open first, from paths in tree order: a code file in the exercise's language, preferring
 * non-test files nearest the root; else any code file; else the first file.
 */
export function pickInitialFile(paths: readonly string[], exerciseLanguage?: string): string | null {
  if (paths.length === 0) return null
  const wanted = languageFromName(exerciseLanguage)
  const depth = (p: string) => p.split('/').length
  const best = (candidates: string[]) =>
    candidates
      .map((p, i) => ({ p, i }))
      .sort((a, b) => Number(isTestPath(a.p)) - Number(isTestPath(b.p)) || depth(a.p) - depth(b.p) || a.i - b.i)[0]?.p
  const code = paths.filter((p) => languageForPath(p) !== null)
  const inLanguage = wanted === null ? [] : code.filter((p) => family(languageForPath(p)!) === family(wanted))
  return best(inLanguage) ?? best(code) ?? paths[0] ?? null
}

function family(id: LanguageId): string {
  if (id === 'jsx' || id === 'javascript') return 'javascript'
  if (id === 'tsx' || id === 'typescript') return 'typescript'
  return id
}
