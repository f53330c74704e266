// One line per step with elapsed time (TTY and plain), or one JSON object per step (--json, for CI).

export type StepStatus = 'start' | 'done' | 'failed' | 'info'

export interface ProgressEvent {
  step: string
  status: StepStatus
  message: string
  [k: string]: unknown
}

export class Progress {
  readonly #json: boolean
  readonly #out: NodeJS.WritableStream
  #started = Date.now()
  readonly #listeners: Array<(e: ProgressEvent) => void> = []
  #parent: Progress | undefined
  #fields: Record<string, unknown> = {}

  constructor (json: boolean, out: NodeJS.WritableStream = process.stdout) {
    this.#json = json
    this.#out = out
  }

  get elapsedMs (): number { return Date.now() - this.#started }

  onEvent (listener: (e: ProgressEvent) => void): void { this.#listeners.push(listener) }

  /**
   * The same output and clock, with `fields` on each event (a stack deploy's `service`). Its
   * listeners hear only its own events (one history record per service); the parent's hear all.
   */
  child (fields: Record<string, unknown>): Progress {
    const c = new Progress(this.#json, this.#out)
    c.#started = this.#started
    c.#parent = this
    c.#fields = fields
    return c
  }

  emit (event: ProgressEvent): void {
    if (this.#parent !== undefined) {
      const withFields = { ...event, ...this.#fields }
      for (const l of this.#listeners) l(withFields)
      this.#parent.emit(withFields)
      return
    }
    const e = { ...event, elapsedMs: this.elapsedMs }
    for (const l of this.#listeners) l(event)
    if (this.#json) {
      this.#out.write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`)
      return
    }
    const mark = event.status === 'done' ? '✓' : event.status === 'failed' ? '✗' : event.status === 'start' ? '…' : ' '
    const who = typeof event.service === 'string' && event.step !== 'stack' ? `${event.service}: ` : ''
    this.#out.write(`[${(e.elapsedMs / 1000).toFixed(1).padStart(5)}s] ${mark} ${event.step.padEnd(7)} ${who}${event.message}\n`)
  }
}
