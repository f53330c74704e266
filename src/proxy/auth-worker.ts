import { verifyHtpasswd } from './htpasswd.js'

// Runs inside piscina's worker threads (see auth-pool.ts): one htpasswd verification per task.
export default function verify ({ password, hash }: { password: string, hash: string }): boolean {
  return verifyHtpasswd(password, hash)
}
