/**
 * An Express API whose routes need Keyhole access tokens.
 *
 *   npm start                                # the demo authorization server on :9400
 *   node --import tsx examples/express-api.ts
 *   TOKEN=$(curl -s -u shop:shop-secret -d grant_type=client_credentials \
 *     http://127.0.0.1:9400/token | jq -r .access_token)
 *   curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/orders        # 200
 *   curl -X POST -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/orders  # 403: no orders:write
 *   curl -u shop:shop-secret -d "token=$TOKEN" http://127.0.0.1:9400/revoke
 *   curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/orders        # 401 at once
 *   curl -i http://127.0.0.1:3000/orders                                        # 401 + WWW-Authenticate
 *   curl http://127.0.0.1:3000/.well-known/oauth-protected-resource            # RFC 9728 metadata
 */

import { createTokenVerifier } from '@keyhole/resource-server'
import { getAuth, protectedResourceMetadata, requireToken } from '@keyhole/resource-server/express'
import express from 'express'

const verifier = createTokenVerifier({
  issuer: process.env.KEYHOLE_ISSUER ?? 'http://127.0.0.1:9400',
  // This API's resource identifier: tokens must carry it in `aud`.
  audience: 'https://orders.example.test',
  credentials: { clientId: 'orders', clientSecret: process.env.ORDERS_SECRET ?? 'orders-secret' },
  // Keyhole pushes revocations: a revoked token is refused at the next request, not after the
  // cache TTL (docs/revocation-events.md).
  revocationEvents: true,
})

const app = express()
app.use(protectedResourceMetadata(verifier))

app.get('/orders', requireToken(verifier, { scopes: ['orders:read'] }), (req, res) => {
  const token = getAuth(req)
  res.json({ orders: [], caller: token.clientId, scopes: token.scopes })
})

app.post('/orders', requireToken(verifier, { scopes: ['orders:write'] }), (req, res) => {
  res.status(201).json({ created: true, by: getAuth(req).sub })
})

const port = Number(process.env.PORT ?? 3000)
const server = app.listen(port, '127.0.0.1', () => {
  console.log(`orders API on http://127.0.0.1:${port}`)
})
process.once('SIGINT', () => {
  server.close()
  void verifier.close()
})
