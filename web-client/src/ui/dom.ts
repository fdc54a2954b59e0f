// A tiny element builder: enough to keep view code declarative without a framework.

type Child = Node | string | number | null | undefined | false
type Handler = (ev: Event) => void

export interface Attrs {
  class?: string
  testid?: string
  on?: Partial<Record<string, Handler>>
  [attr: string]: unknown
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Array<Child | Child[]>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue
      if (key === 'on') {
        for (const [name, fn] of Object.entries(value as Record<string, Handler>)) el.addEventListener(name, fn)
      } else if (key === 'class') {
        el.className = String(value)
      } else if (key === 'testid') {
        el.dataset.testid = String(value)
      } else if (key === 'value' && 'value' in el) {
        ;(el as HTMLInputElement).value = String(value)
      } else {
        el.setAttribute(key, value === true ? '' : String(value))
      }
    }
  }
  append(el, children)
  return el
}

export function append(el: Element, children: Array<Child | Child[]>): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
}

export function clear(el: Element): void {
  el.replaceChildren()
}

/** Runs `fn` once calls have stopped for `ms`; `flush` runs a pending call now. */
export function debounce(fn: () => void, ms: number): { (): void; flush(): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null
  const run = () => {
    timer = null
    fn()
  }
  const call = () => {
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(run, ms)
  }
  call.flush = () => {
    if (timer !== null) {
      clearTimeout(timer)
      run()
    }
  }
  call.cancel = () => {
    if (timer !== null) clearTimeout(timer)
    timer = null
  }
  return call
}

/** Copies text to the clipboard; falls back to a hidden textarea where the async API is unavailable. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    const ta = h('textarea', { class: 'offscreen', 'aria-hidden': 'true' })
    ta.value = text
    document.body.append(ta)
    ta.select()
    let ok = false
    try {
      ok = document.execCommand('copy')
    } catch {
      ok = false
    }
    ta.remove()
    return ok
  }
}
