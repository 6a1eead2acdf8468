/**
 * bench/results/latest.json is kept in git, so it is written the way the repository's formatter
 * (biome) would write it: two-space indent, arrays of numbers on one line; numbers rounded to what
 * the measurement can tell apart.
 */
export function resultsJson(value: unknown): string {
  const text = JSON.stringify(
    value,
    (_key, v: unknown) =>
      typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(3)) : v,
    2,
  )
  return `${text.replace(/\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g, (_match, items: string) => `[${items.split(/,\s+/).join(', ')}]`)}\n`
}
