/**
 * An MCP server (Streamable HTTP) whose tools need Keyhole access tokens: the SDK's own
 * `requireBearerAuth` middleware, fed by Keyhole's `mcpTokenVerifier`, plus the RFC 9728
 * document MCP clients use to find the authorization server.
 *
 *   npm start                                # the demo authorization server on :9400
 *   node --import tsx examples/mcp-server.ts # MCP endpoint http://127.0.0.1:3001/mcp
 *
 * In production `audience` is the MCP server's public URL (e.g. https://mcp.example.com/mcp, whose
 * metadata is served at /.well-known/oauth-protected-resource/mcp); here it is the demo's resource.
 */
import { createTokenVerifier } from '@keyhole/resource-server'
import { protectedResourceMetadata } from '@keyhole/resource-server/express'
import { mcpTokenVerifier } from '@keyhole/resource-server/mcp'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'

const verifier = createTokenVerifier({
  issuer: process.env.KEYHOLE_ISSUER ?? 'http://127.0.0.1:9400',
  audience: process.env.MCP_RESOURCE ?? 'https://orders.example.test',
  credentials: { clientId: 'orders', clientSecret: process.env.ORDERS_SECRET ?? 'orders-secret' },
})

function mcpServer(): McpServer {
  const server = new McpServer({ name: 'orders', version: '1.0.0' })
  server.registerTool(
    'whoami',
    { description: 'Who is calling, by the access token' },
    (extra) => ({
      content: [
        {
          type: 'text',
          text: `client ${extra.authInfo?.clientId}, scopes ${extra.authInfo?.scopes.join(' ')}`,
        },
      ],
    }),
  )
  return server
}

const app = createMcpExpressApp() // express.json() and DNS-rebinding protection on 127.0.0.1
app.use(protectedResourceMetadata(verifier))

const auth = requireBearerAuth({
  verifier: mcpTokenVerifier(verifier), // DPoP cannot be checked here: the SDK passes only the token
  requiredScopes: ['orders:read'],
  ...(verifier.resourceMetadata ? { resourceMetadataUrl: verifier.resourceMetadata.url } : {}),
})

// Stateless Streamable HTTP: one server and transport per request.
app.post('/mcp', auth, async (req, res) => {
  const server = mcpServer()
  const transport = new StreamableHTTPServerTransport() // no sessionIdGenerator: stateless
  res.on('close', () => {
    void transport.close()
    void server.close()
  })
  await server.connect(transport)
  await transport.handleRequest(req, res, req.body)
})

const port = Number(process.env.PORT ?? 3001)
const listener = app.listen(port, '127.0.0.1', () => {
  console.log(`MCP server on http://127.0.0.1:${port}/mcp`)
})
process.once('SIGINT', () => {
  listener.close()
  void verifier.close()
})
