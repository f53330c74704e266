import { RouteTable } from './route-table.js'

/** The one mutable holder of the live table. Readers take `current` once per request. */
export class RouteTableStore {
  #current: RouteTable = RouteTable.empty()
  #swaps = 0
  readonly #swapped = new Set<(current: RouteTable) => void>()

  get current (): RouteTable { return this.#current }
  get swaps (): number { return this.#swaps }

  /** Returns the table it replaced (kamal's UpdateLoadBalancer returns `replaced` too). */
  swap (next: RouteTable): RouteTable {
    const previous = this.#current
    this.#current = next
    this.#swaps++
    for (const listener of this.#swapped) listener(next)
    return previous
  }

  /** Called after every swap with the new table (the proxy's extra listeners follow it). */
  onTableSwapped (listener: (current: RouteTable) => void): () => void {
    this.#swapped.add(listener)
    return () => { this.#swapped.delete(listener) }
  }
}
