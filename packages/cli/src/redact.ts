/**
 * Every client secret and token this process handles. Text that comes from elsewhere (an AS's
 * error description, an unexpected error's message) has them blanked out before it is printed:
 * an authorization server may echo what it was sent. Keyhole's own messages never contain them.
 */
const sensitive = new Set<string>()

export function markSensitive(value: string): void {
  if (value !== '') sensitive.add(value)
}

export function redact(text: string): string {
  let out = text
  for (const value of sensitive) out = out.replaceAll(value, '[redacted]')
  return out
}
