import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { expectConformantHookResponse } from './support/cds-conformance';
import { NOW, useCdsHarness } from './fixtures/cds/harness';
import type { Card } from '../src/core/cds-hooks';

/** The hook call documented in README.md, exactly as written there (only $AUTHORED filled in). */
function documentedCall(): Record<string, unknown> {
  const doc = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  const match = /--data @- <<EOF[^\n]*\n([\s\S]*?)\nEOF\n/.exec(doc);
  if (!match) throw new Error('README.md: no hook call found');
  return JSON.parse(match[1].replace('${AUTHORED}', NOW.toISOString().replace(/\.\d{3}Z$/, 'Z')));
}

const h = useCdsHarness();

it('the documented patient-view call gives the documented card', async () => {
  const res = await request(h.app).post('/cds-services/calf-pain-dvt').send(documentedCall()).expect(200);
  expectConformantHookResponse(res.body);
  const cards = res.body.cards as Card[];
  expect(cards.map((c) => `${c.indicator}: ${c.summary}`)).toEqual([
    'warning: Wells DVT score 4: DVT likely. Proximal leg vein ultrasound within 4 hours (NICE NG158)',
  ]);
  expect(cards[0].detail).toContain('Previous deep vein thrombosis recorded in the chart');
  expect(cards[0].detail).toContain('If the chart is right, the Wells score would be 5 (DVT likely)');
});

it('without its prefetch the documented call is a 412', async () => {
  const { prefetch: _omitted, ...withoutPrefetch } = documentedCall();
  await request(h.app).post('/cds-services/calf-pain-dvt').send(withoutPrefetch).expect(412);
});
