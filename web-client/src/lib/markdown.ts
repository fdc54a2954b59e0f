// A small, safe subset of Markdown for the exercise brief, parsed into plain data: headings, paragraphs,
// lists, fenced code, and inline code, bold, italic and links. The renderer (room/brief.ts) builds DOM
// nodes from this, so the brief's text is only ever text: no HTML in it is interpreted. Pure, so it is
// unit-tested.

export type Inline =
  | { kind: 'text'; text: string }
  | { kind: 'code'; text: string }
  | { kind: 'strong'; children: Inline[] }
  | { kind: 'em'; children: Inline[] }
  | { kind: 'link'; href: string; children: Inline[] }

export type Block =
  | { kind: 'heading'; level: 1 | 2 | 3 | 4; children: Inline[] }
  | { kind: 'paragraph'; children: Inline[] }
  | { kind: 'list'; ordered: boolean; items: Inline[][] }
  | { kind: 'code'; text: string }

/** Link targets a brief may use; anything else (javascript:, data:, …) is shown as text. */
const SAFE_LINK = /^(https?:\/\/|mailto:)/i

const HEADING = /^(#{1,4})\s+(.*)$/
const BULLET = /^\s*[-*+]\s+(.*)$/
const NUMBERED = /^\s*\d+[.)]\s+(.*)$/
const FENCE = /^\s*(```|~~~)/

export function parseMarkdown(source: string): Block[] {
  const lines = source.replace(/\r\n?/g, '\n').split('\n')
  const blocks: Block[] = []
  let paragraph: string[] = []
  const endParagraph = () => {
    if (paragraph.length > 0) blocks.push({ kind: 'paragraph', children: parseInline(paragraph.join(' ')) })
    paragraph = []
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ''
    const fence = FENCE.exec(line)
    if (fence) {
      endParagraph()
      const code: string[] = []
      i++
      while (i < lines.length && !(lines[i] ?? '').trim().startsWith(fence[1] ?? '```')) code.push(lines[i++] ?? '')
      blocks.push({ kind: 'code', text: code.join('\n') })
      continue
    }
    const heading = HEADING.exec(line)
    if (heading) {
      endParagraph()
      const level = Math.min(4, (heading[1] ?? '#').length) as 1 | 2 | 3 | 4
      blocks.push({ kind: 'heading', level, children: parseInline((heading[2] ?? '').trim()) })
      continue
    }
    const bullet = BULLET.exec(line)
    const numbered = bullet ? null : NUMBERED.exec(line)
    if (bullet || numbered) {
      endParagraph()
      const ordered = numbered !== null
      const item = parseInline(((bullet ?? numbered)?.[1] ?? '').trim())
      const last = blocks[blocks.length - 1]
      if (last?.kind === 'list' && last.ordered === ordered) last.items.push(item)
      else blocks.push({ kind: 'list', ordered, items: [item] })
      continue
    }
    if (line.trim() === '') endParagraph()
    else paragraph.push(line.trim())
  }
  endParagraph()
  return blocks
}

/** Inline code first (its content is literal), then links, bold and italic; underscores only mark
 * emphasis at word edges, so `snake_case_names` stay as written. */
export function parseInline(text: string): Inline[] {
  const out: Inline[] = []
  let rest = text
  const pushText = (t: string) => {
    if (t === '') return
    const last = out[out.length - 1]
    if (last?.kind === 'text') last.text += t
    else out.push({ kind: 'text', text: t })
  }
  while (rest !== '') {
    const m = /`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)|\*\*([^*]+)\*\*|(?<!\w)__([^_]+)__(?!\w)|\*([^*]+)\*|(?<!\w)_([^_]+)_(?!\w)/.exec(rest)
    if (!m) {
      pushText(rest)
      break
    }
    pushText(rest.slice(0, m.index))
    const [whole, code, linkText, href, strongA, strongB, emA, emB] = m
    if (code !== undefined) out.push({ kind: 'code', text: code })
    else if (linkText !== undefined && href !== undefined) {
      if (SAFE_LINK.test(href)) out.push({ kind: 'link', href, children: parseInline(linkText) })
      else pushText(linkText)
    } else if (strongA !== undefined || strongB !== undefined) out.push({ kind: 'strong', children: parseInline(strongA ?? strongB ?? '') })
    else out.push({ kind: 'em', children: parseInline(emA ?? emB ?? '') })
    rest = rest.slice(m.index + whole.length)
  }
  return out
}
