/**
 * The client address the throttles use (http/client-address.ts): X-Forwarded-For is read only
 * for connections from trusted proxies, from the right, past every trusted hop.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { clientAddress, trustedProxies } from '../src/http/client-address.ts'

const proxies = trustedProxies(['127.0.0.1', '10.0.0.0/8', 'fd00::/8'])

describe('client address behind trusted proxies', () => {
  test('no trusted proxies: the socket address, whatever X-Forwarded-For says', () => {
    assert.equal(trustedProxies([]), undefined)
    assert.equal(clientAddress('127.0.0.1', ['203.0.113.7'], undefined), '127.0.0.1')
  })

  test('a connection from an address that is not a trusted proxy is taken at its word', () => {
    assert.equal(clientAddress('192.0.2.10', ['203.0.113.7'], proxies), '192.0.2.10')
  })

  test('from a trusted proxy: the forwarded client', () => {
    assert.equal(clientAddress('127.0.0.1', ['203.0.113.7'], proxies), '203.0.113.7')
    assert.equal(clientAddress('127.0.0.1', [], proxies), '127.0.0.1')
  })

  test('the right-most address that is not a trusted proxy: what a client prepends is ignored', () => {
    assert.equal(
      clientAddress('127.0.0.1', ['198.51.100.1, 203.0.113.7, 10.1.2.3'], proxies),
      '203.0.113.7',
    )
    // several headers are one list, in order
    assert.equal(
      clientAddress('127.0.0.1', ['198.51.100.1', '203.0.113.7'], proxies),
      '203.0.113.7',
    )
  })

  test('garbage in the list stops the walk at the last known hop', () => {
    assert.equal(clientAddress('127.0.0.1', ['203.0.113.7, not-an-ip'], proxies), '127.0.0.1')
    assert.equal(clientAddress('127.0.0.1', ['garbage, 10.0.0.9'], proxies), '10.0.0.9')
  })

  test('a list of trusted proxies only: the left-most of them', () => {
    assert.equal(clientAddress('127.0.0.1', ['10.0.0.3, 10.0.0.2'], proxies), '10.0.0.3')
  })

  test('IPv6 ranges, and IPv4 clients of a dual-stack socket (::ffff:a.b.c.d)', () => {
    assert.equal(clientAddress('fd12::1', ['2001:db8::7'], proxies), '2001:db8::7')
    assert.equal(clientAddress('::ffff:127.0.0.1', ['203.0.113.7'], proxies), '203.0.113.7')
    assert.equal(clientAddress('::ffff:127.0.0.1', ['::ffff:10.0.0.1'], proxies), '10.0.0.1')
  })
})
