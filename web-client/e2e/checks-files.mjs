// A second room, opened fresh by the interviewer: keyboard_navigation (Tab through the file tree, Enter
// opens a file, the focused item shows a focus indicator) and huge_file_opens (a ~2 MiB file opens,
// both ends are reachable, and typing at its end lands in the document).

import { join } from 'node:path'
import { expect, newPage, submitAndPromote, waitSynced } from './lib.mjs'

const MAX_FILE_BYTES = 2 * 1024 * 1024 // the server's per-file limit (protocol limits.rs)
const HUGE_PATH = 'data/big_table.py'
const HUGE_LINES = 40_000
const HUGE_FIRST = '# HUGE-FIRST-LINE: generated lookup table (e2e)'
const HUGE_LAST = `HUGE_LAST_LINE = ${HUGE_LINES}  # end of table`
const NESTED_PATH = 'src/util/strings.py'
const NESTED = 'def shout(s: str) -> str:\n    """KEYBOARD-OPENED-FILE"""\n    return s.upper() + "!"\n'
const TAIL = '#tail-typed-3c'

function hugeFile() {
  const lines = [HUGE_FIRST]
  for (let i = 1; i < HUGE_LINES - 1; i++) lines.push(`ROW_${String(i).padStart(5, '0')} = ("key-${(i * 7919) % 100_000}", ${i}, 0x${i.toString(16).padStart(5, '0')})  # tbl-r`)
  lines.push(HUGE_LAST)
  return `${lines.join('\n')}\n`
}

const HUGE = hugeFile()

const SUBMISSION = {
  candidate: { name: 'Lin Bigfile', email: 'lin@example.com' },
  exercise: { title: 'Big table (e2e)', language: 'python' },
  files: [
    { path: 'app.py', content: 'from data.big_table import ROW_00001\n\nprint(ROW_00001)\n' },
    { path: HUGE_PATH, content: HUGE },
    { path: NESTED_PATH, content: NESTED },
    { path: 'README.md', content: '# Big table\n' },
  ],
}

const focusInfo = (page) =>
  page.evaluate(() => {
    const el = document.activeElement
    if (!el || el === document.body) return { tag: 'body' }
    const cs = getComputedStyle(el)
    return {
      tag: el.tagName,
      path: el.dataset?.path ?? null,
      inEditor: el.closest('.cm-editor') !== null,
      focusVisible: el.matches(':focus-visible'),
      outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0 ? `${cs.outlineStyle} ${cs.outlineWidth}` : null,
      shadow: cs.boxShadow !== 'none' ? cs.boxShadow : null,
    }
  })

export async function fileChecks(shotDir) {
  if (HUGE.length > MAX_FILE_BYTES || HUGE.length < 1.9 * 1024 * 1024) throw new Error(`huge file is ${HUGE.length} bytes`)
  const { links } = await submitAndPromote(SUBMISSION, 'Kim Keyboard')
  const page = await newPage('interviewer-2')
  await page.goto(links.interviewer)
  await waitSynced(page)
  await page.waitForFunction(() => window.__handoff?.activePath === 'app.py')
  await keyboardNavigation(page, shotDir)
  await hugeFileOpens(page, shotDir)
}

async function keyboardNavigation(page, shotDir) {
  // Nothing was clicked on this page: Tab starts from the top of the document.
  const start = await focusInfo(page)
  if (start.tag !== 'body') throw new Error(`keyboard_navigation: focus starts on ${JSON.stringify(start)}`)
  const target = `[data-testid="tree-file"][data-path="${NESTED_PATH}"]`
  const visited = []
  let info = start
  for (let i = 0; i < 25 && info.path !== NESTED_PATH; i++) {
    await page.keyboard.press('Tab')
    info = await focusInfo(page)
    visited.push(info.path ?? info.tag)
    // Tab inside the editor indents: never press it there.
    if (info.inEditor) throw new Error(`keyboard_navigation: Tab reached the editor before ${NESTED_PATH}: ${visited.join(' → ')}`)
  }
  expect('keyboard_reaches_tree_file', info.path === NESTED_PATH, visited.join(' → '))
  expect('keyboard_focus_indicator', info.focusVisible && (info.outline !== null || info.shadow !== null), JSON.stringify(info))

  await page.keyboard.press('Enter')
  await page.waitForFunction((p) => window.__handoff?.activePath === p, NESTED_PATH)
  await page.waitForFunction((want) => window.__handoff.view.state.doc.toString() === want, NESTED)
  await page.locator('[data-testid="editor"] .cm-line', { hasText: 'KEYBOARD-OPENED-FILE' }).waitFor({ state: 'visible' })
  await page.locator(`[data-testid="tab"][data-path="${NESTED_PATH}"]`).waitFor()
  // The tree re-rendered (active item): focus stays on the item, still visibly marked.
  const after = await focusInfo(page)
  const item = page.locator(target)
  const box = await item.boundingBox()
  const clip = { x: Math.max(0, box.x - 4), y: Math.max(0, box.y - 4), width: box.width + 8, height: box.height + 8 }
  const focused = await page.screenshot({ clip })
  await page.screenshot({ path: join(shotDir, 'keyboard.png') })
  await page.evaluate(() => document.activeElement?.blur())
  const blurred = await page.screenshot({ clip })
  expect(
    'keyboard_navigation',
    after.path === NESTED_PATH && after.focusVisible && (after.outline !== null || after.shadow !== null) && !focused.equals(blurred),
    `focus after Enter ${JSON.stringify(after)}, indicator painted ${!focused.equals(blurred)}`,
  )
}

async function hugeFileOpens(page, shotDir) {
  await page.click(`[data-testid="tree-file"][data-path="${HUGE_PATH}"]`)
  await page.waitForFunction((p) => window.__handoff?.activePath === p, HUGE_PATH)
  await page.waitForFunction((n) => window.__handoff.view.state.doc.length === n, HUGE.length)
  const whole = await page.evaluate(() => {
    const d = window.__handoff.view.state.doc
    return { lines: d.lines, first: d.line(1).text, last: d.line(d.lines - 1).text }
  })
  // HUGE ends with a newline, so CodeMirror has one more (empty) line after the table's last.
  expect('huge_file_length', whole.lines === HUGE_LINES + 1 && whole.first === HUGE_FIRST && whole.last === HUGE_LAST, JSON.stringify(whole))
  await page.locator('[data-testid="editor"] .cm-line', { hasText: 'HUGE-FIRST-LINE' }).waitFor({ state: 'visible' })

  // The end of the file, by keyboard: Ctrl+End moves the cursor there and scrolls it into view.
  await page.click('[data-testid="editor"] .cm-content')
  await page.keyboard.press('Control+End')
  const lastLine = page.locator('[data-testid="editor"] .cm-line', { hasText: 'HUGE_LAST_LINE' })
  await lastLine.waitFor({ state: 'visible' })
  // CodeMirror draws the cursor's line first and scrolls to it in a later frame (its measure cycle),
  // so one look right after the line appears can come too early: wait for the scroll, within the
  // page's default timeout.
  const inViewport = await page
    .waitForFunction(() => {
      const lines = document.querySelectorAll('[data-testid="editor"] .cm-line')
      const el = [...lines].find((l) => l.textContent.includes('HUGE_LAST_LINE'))
      if (!el) return false
      const r = el.getBoundingClientRect()
      const s = el.closest('.cm-scroller').getBoundingClientRect()
      return r.bottom > s.top && r.top < s.bottom
    })
    .then(
      () => true,
      () => false,
    )
  expect('huge_file_opens', inViewport, 'last line not scrolled into view')

  await page.keyboard.type(TAIL)
  await page.waitForFunction(
    ({ path, n, tail }) => {
      const d = window.__handoff.view.state.doc
      const y = window.__handoff.doc.getMap('files').get(path)
      return d.length === n && d.sliceString(n - tail.length) === tail && y?.length === n && y.toString().endsWith(tail)
    },
    { path: HUGE_PATH, n: HUGE.length + TAIL.length, tail: TAIL },
  )
  await page.locator('[data-testid="editor"] .cm-line', { hasText: TAIL }).waitFor({ state: 'visible' })
  await page.waitForSelector(`[data-testid="tree-file"][data-path="${HUGE_PATH}"][data-changed="modified"]`)
  expect('huge_file_typing', true)
  await page.screenshot({ path: join(shotDir, 'huge.png') })
}
