import type { SecureContextOptions } from 'node:tls'

// nginx-proxy's default SSL_POLICY, "Mozilla-Intermediate": TLS 1.2 and 1.3, AEAD suites with
// forward secrecy only, the client's order (ssl_prefer_server_ciphers off). Node's own defaults
// differ (server order, CBC suites on TLS 1.2), so a client would negotiate differently after
// swapping the image; with this it negotiates what it did with nginx-proxy.
const TLS13 = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']
const TLS12 = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305', 'DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-GCM-SHA384'
]

export const TLS_POLICY = {
  minVersion: 'TLSv1.2',
  ciphers: [...TLS13, ...TLS12].join(':'),
  honorCipherOrder: false
} as const satisfies SecureContextOptions
