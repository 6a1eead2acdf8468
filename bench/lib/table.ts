/** Plain-text tables for the terminal (and, pasted, for docs/benchmarks.md: they are Markdown). */

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`
  return [line(header), rule, ...rows.map(line)].join('\n')
}

export const fixed = (value: number, digits: number) => value.toFixed(digits)

export const thousands = (value: number) => Math.round(value).toLocaleString('en-US')

/** autocannon's latency histogram holds whole milliseconds, rounded down: 0 means under 1 ms. */
export const wholeMs = (value: number) => (value === 0 ? '<1' : String(value))
