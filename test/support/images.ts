export const BASE_IMAGE = process.env.PROXYCTL_BASE_IMAGE ?? 'node:24-bookworm-slim'
export const TEST_APP_IMAGE = 'proxyctl-test-app:dev'
export const PROXY_IMAGE = 'proxyctl:test'
/** Every container a test starts carries this label, so leftovers can be removed. */
export const TEST_LABEL = 'com.proxyctl.test'
