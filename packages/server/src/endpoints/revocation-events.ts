/**
 * Revocation events (docs/revocation-events.md; a Keyhole extension, advertised in the RFC 8414
 * metadata as `keyhole_revocation_events_endpoint`). Reads: authenticate the caller → validate the
 * request → open the stream of revocations that concern it.
 *
 * A resource server subscribes with the credentials it introspects with, and is told, as
 * Server-Sent Events, the hashes of access tokens meant for it as soon as they are revoked, so
 * that its cache drops them at once. Only resources subscribe: a client has no cache to purge.
 */
import { oauthError } from '@keyhole/protocol'
import { authenticateCaller } from '../client-auth/authenticate.ts'
import type { Deps } from '../deps.ts'
import type { Endpoint } from '../http/types.ts'

/** Longer than any id this server hands out (`<boot id>.<sequence>`); longer ones are not read. */
const MAX_EVENT_ID_LENGTH = 64

export function revocationEventsEndpoint(deps: Pick<Deps, 'auth' | 'revocationEvents'>): Endpoint {
  const events = deps.revocationEvents
  return async (req) => {
    // authenticate the caller, as at the introspection endpoint (RFC 7662 §2.1)
    const caller = await authenticateCaller(req, deps.auth)
    if (!caller.ok) return caller.error
    const principal = caller.value.principal
    if (principal.kind !== 'resource') {
      return oauthError('unauthorized_client', 'only a resource may subscribe to revocation events')
    }

    // validate the request: an id this server could not have handed out is simply not one it
    // can replay from, and gets `reset` (never an error: the subscriber must be able to go on).
    const given = req.form.get('last_event_id')
    const lastEventId = given !== undefined && given.length > MAX_EVENT_ID_LENGTH ? '' : given

    // open the stream
    const subscriber = { resourceId: principal.id, audience: principal.audience }
    if (events.closed) {
      // Shutting down: come back shortly, to this server's successor or another one.
      return oauthError('temporarily_unavailable', 'the server is shutting down', {
        status: 503,
        headers: { 'Retry-After': '1' },
      })
    }
    if (!events.accepts(subscriber)) {
      return oauthError('temporarily_unavailable', 'too many revocation streams open', {
        status: 429,
        headers: { 'Retry-After': '30' },
      })
    }
    return {
      kind: 'stream',
      contentType: 'text/event-stream',
      open: (sink) => {
        const unsubscribe = events.subscribe(subscriber, lastEventId, sink)
        if (unsubscribe === 'too_many') {
          sink.end()
          return () => {}
        }
        return unsubscribe
      },
    }
  }
}
