// CPU ms per request of the server process (utime+stime from /proc), for a fixed number of requests
const autocannon = require('/work/main/node_modules/autocannon');
const { pool } = require('/work/main/bench/bodies');
const { startService, startEcho, stop } = require('/work/main/bench/processes');
const fs = require('fs'), os = require('os'), path = require('path');
const cpu = (pid) => { const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
async function run(kind, what) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpu-'));
  const port = 19000 + Math.floor(Math.random() * 900);
  const proc = what === 'echo' ? await startEcho() : await startService({ PORT: String(port), AUTH_MODE: 'off', RATE_LIMIT_PER_MINUTE: '1000000', DATABASE_URL: process.env.DB ? `${process.env.DB}?schema=cpu_${Date.now()}` : `sqlite://${dir}/c.db` });
  const bodies = pool(kind); let i = 0;
  const url = what === 'echo' ? '/echo' : kind === 'hook' ? '/cds-services/calf-pain-dvt' : '/fhir/QuestionnaireResponse';
  const opts = { url: `http://127.0.0.1:${proc.port}${url}`, connections: 32, requests: [{ method: 'POST', setupRequest: (r) => ({ ...r, body: bodies[i++ % bodies.length], headers: { ...r.headers, 'content-type': 'application/json' } }) }] };
  await autocannon({ ...opts, amount: 1000 });
  const c0 = cpu(proc.child.pid); const t0 = Date.now();
  const r = await autocannon({ ...opts, amount: Number(process.env.N || 4000) });
  const c1 = cpu(proc.child.pid);
  console.log(kind, what, 'cpu ms/req', ((c1 - c0) / r.requests.total).toFixed(3), 'req/s', r.requests.average, 'non2xx', r.non2xx, 'wall', Date.now() - t0);
  await stop(proc);
}
(async () => { for (const [k, w] of process.argv.slice(2).map((a) => a.split(':'))) await run(k, w); })();
