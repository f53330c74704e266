import { writeFileSync } from 'node:fs'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'

// Timeline charts as SVG, rendered headless: vega-lite compiles to vega, vega's View.toSVG() draws
// without a browser or canvas (see bench/README.md for why vega).

export interface SeriesPoint { t: number, series: string, perSec: number }
export interface Marker { t: number, label: string, kind: string }

export async function timelineSvg (file: string, opts: { title: string, subtitle?: string, points: SeriesPoint[], markers: Marker[], seriesOrder: string[], colors: string[], widthPx?: number }): Promise<void> {
  const KIND_COLORS: Record<string, string> = { 'deploy start/end': '#333333', 'deploy step': '#9467bd', 'docker event': '#ff7f0e', 'nginx reload': '#2ca02c' }
  const markerKinds = [...new Set(opts.markers.map((m) => m.kind))]
  const kindColors = markerKinds.map((k) => KIND_COLORS[k] ?? '#17becf')
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: opts.title, ...(opts.subtitle !== undefined ? { subtitle: opts.subtitle } : {}), anchor: 'start' },
    width: opts.widthPx ?? 1100,
    height: 260,
    background: 'white',
    layer: [
      {
        // Rules and their labels share one color scale; the rate lines have their own.
        data: { values: opts.markers },
        layer: [{
        mark: { type: 'rule', strokeDash: [3, 3], opacity: 0.7 },
        encoding: {
          x: { field: 't', type: 'quantitative' },
          color: { field: 'kind', type: 'nominal', title: 'marks', scale: { domain: markerKinds, range: kindColors } }
        }
      },
      {
        mark: { type: 'text', angle: 270, align: 'right', baseline: 'bottom', dx: -4, dy: -2, fontSize: 8, opacity: 0.8 },
        encoding: {
          x: { field: 't', type: 'quantitative' },
          y: { value: 0 },
          text: { field: 'label', type: 'nominal' },
          color: { field: 'kind', type: 'nominal' }
        }
      }]
      },
      {
        data: { values: opts.points },
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.2 },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds since the load started (requests by scheduled start)' },
          y: { field: 'perSec', type: 'quantitative', title: 'requests per second' },
          color: { field: 'series', type: 'nominal', title: 'outcome', scale: { domain: opts.seriesOrder, range: opts.colors } }
        }
      }
    ],
    resolve: { scale: { color: 'independent' } }
  }
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  writeFileSync(file, await view.toSVG())
  view.finalize()
}
