import { describe, expect, it } from 'vitest'
import { extensionOf, isTestPath, languageForPath, languageFromName, pickInitialFile } from '../src/lib/language'

describe('languageForPath', () => {
  it.each([
    ['lru.py', 'python'],
    ['src/app.js', 'javascript'],
    ['ui/App.jsx', 'jsx'],
    ['lib/x.ts', 'typescript'],
    ['ui/App.tsx', 'tsx'],
    ['Main.java', 'java'],
    ['cmd/main.go', 'go'],
    ['src/lib.rs', 'rust'],
    ['a.c', 'cpp'],
    ['a.h', 'cpp'],
    ['a.cpp', 'cpp'],
    ['a.cc', 'cpp'],
    ['a.hpp', 'cpp'],
    ['SHOUT.PY', 'python'],
  ])('%s → %s', (path, lang) => {
    expect(languageForPath(path)).toBe(lang)
  })
  it('is null for unknown or missing extensions', () => {
    expect(languageForPath('README.md')).toBeNull()
    expect(languageForPath('Makefile')).toBeNull()
    expect(languageForPath('.gitignore')).toBeNull()
    expect(languageForPath('dir.py/file')).toBeNull()
  })
})

describe('extensionOf', () => {
  it('takes the last extension of the last segment', () => {
    expect(extensionOf('a/b.tar.gz')).toBe('gz')
    expect(extensionOf('a.b/c')).toBe('')
    expect(extensionOf('.env')).toBe('')
  })
})

describe('languageFromName', () => {
  it('understands common spellings', () => {
    expect(languageFromName('Python')).toBe('python')
    expect(languageFromName('C++')).toBe('cpp')
    expect(languageFromName('golang')).toBe('go')
    expect(languageFromName(undefined)).toBeNull()
    expect(languageFromName('cobol')).toBeNull()
  })
})

describe('pickInitialFile', () => {
  it('prefers the exercise language', () => {
    expect(pickInitialFile(['README.md', 'test_lru.js', 'lru.py'], 'python')).toBe('lru.py')
  })
  it('falls back to the first code file, then the first file', () => {
    expect(pickInitialFile(['README.md', 'main.go'])).toBe('main.go')
    expect(pickInitialFile(['README.md', 'notes.txt'])).toBe('README.md')
    expect(pickInitialFile([])).toBeNull()
  })
  it('prefers non-test files nearest the root', () => {
    const tree = ['src/cache/lru.py', 'tests/test_lru.py', 'lru.py', 'README.md']
    expect(pickInitialFile(tree, 'python')).toBe('lru.py')
    expect(pickInitialFile(['tests/test_a.py', 'pkg/a.py'], 'python')).toBe('pkg/a.py')
    expect(pickInitialFile(['a_test.go', 'main.go'], 'go')).toBe('main.go')
    expect(pickInitialFile(['tests/test_only.py'], 'python')).toBe('tests/test_only.py')
  })
  it('recognises test files', () => {
    expect(isTestPath('tests/x.py')).toBe(true)
    expect(isTestPath('test_lru.py')).toBe(true)
    expect(isTestPath('lru_test.go')).toBe(true)
    expect(isTestPath('App.spec.tsx')).toBe(true)
    expect(isTestPath('latest.py')).toBe(false)
    expect(isTestPath('contest/main.py')).toBe(false)
  })
  it('treats jsx and js as one family', () => {
    expect(pickInitialFile(['a.md', 'App.jsx'], 'javascript')).toBe('App.jsx')
  })
})
