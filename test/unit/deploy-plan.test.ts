import t from 'tap'
import { DeployLocks } from '../../src/admin/server/deploy-locks.ts'
import { projectName } from '../../src/deploy/compose.ts'
import { planDeploy } from '../../src/deploy/plan.ts'

const c = (name: string, running = true) => ({ id: `id-${name}`, name, running })

t.test('planDeploy', async (t) => {
  const cases = [
    { desc: 'first deploy', in: [], want: { old: [], removeFirst: [], scaleTo: 1, replicas: 1 } },
    { desc: 'one running', in: [c('p-app-1')], want: { old: [c('p-app-1')], removeFirst: [], scaleTo: 2, replicas: 1 } },
    { desc: 'two running', in: [c('p-app-2'), c('p-app-1')], want: { old: [c('p-app-1'), c('p-app-2')], removeFirst: [], scaleTo: 4, replicas: 2 } },
    { desc: 'an exited one is replaced, not restarted', in: [c('p-app-1', false), c('p-app-2')], want: { old: [c('p-app-2')], removeFirst: [c('p-app-1', false)], scaleTo: 2, replicas: 1 } },
    { desc: 'only exited ones', in: [c('p-app-1', false)], want: { old: [], removeFirst: [c('p-app-1', false)], scaleTo: 1, replicas: 1 } }
  ]
  for (const k of cases) t.same(planDeploy(k.in), k.want, k.desc)
})

t.test('compose project name', async (t) => {
  t.equal(projectName('/srv/My_App/compose.yml', undefined, {}), 'my_app')
  t.equal(projectName('/srv/my-app.v2/compose.yml', undefined, {}), 'my-appv2')
  t.equal(projectName('/srv/x/compose.yml', 'Explicit', {}), 'explicit')
  t.equal(projectName('/srv/x/compose.yml', undefined, { COMPOSE_PROJECT_NAME: 'fromenv' }), 'fromenv')
  t.throws(() => projectName('/srv/x/compose.yml', '!!!', {}), { code: 'PROXY_ERR_INVALID_OPTION' })
})

t.test('deploy leases: one holder at a time, renewable, expiring', async (t) => {
  let now = 1_000
  const locks = new DeployLocks(() => now)
  t.same(locks.acquire('svc', 'a', 100), { acquired: true })
  const busy = locks.acquire('svc', 'b', 100)
  t.equal(busy.acquired, false)
  t.same(locks.acquire('svc', 'a', 100), { acquired: true }, 'the holder renews')
  t.same(locks.acquire('other', 'b', 100), { acquired: true }, 'keys are independent')
  now += 101
  t.same(locks.acquire('svc', 'b', 100), { acquired: true }, 'an expired lease can be taken')
  t.equal(locks.release('svc', 'a'), false, 'only the holder releases')
  t.equal(locks.release('svc', 'b'), true)
  t.same(locks.acquire('svc', 'a', 100), { acquired: true })
})
