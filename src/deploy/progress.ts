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
  readonly #started = Date.now()
  readonly #listeners: Array<(e: ProgressEvent) => void> = []

  constructor (json: boolean, out: NodeJS.WritableStream = process.stdout) {
    this.#json = json
    this.#out = out
  }

  get elapsedMs (): number { return Date.now() - this.#started }

  onEvent (listener: (e: ProgressEvent) => void): void { this.#listeners.push(listener) }

  emit (event: ProgressEvent): void {
    const e = { ...event, elapsedMs: this.elapsedMs }
    for (const l of this.#listeners) l(event)
    if (this.#json) {
      this.#out.write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`)
      return
    }
    const mark = event.status === 'done' ? '✓' : event.status === 'failed' ? '✗' : event.status === 'start' ? '…' : ' '
    this.#out.write(`[${(e.elapsedMs / 1000).toFixed(1).padStart(5)}s] ${mark} ${event.step.padEnd(7)} ${event.message}\n`)
  }
}
