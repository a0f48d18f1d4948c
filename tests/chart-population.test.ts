/**
 * Chart evidence, branch by branch: a union (`A | B`) is evaluated per branch, the branches that do not
 * read the clock are kept for the same chart, and the ones that do are evaluated again at every call
 * unless their evaluation on that chart never asked the time.
 */
import type { Condition, Procedure } from 'fhir/r4';
import { loadCardRules } from '../src/clinical/card-rules';
import { unionBranches } from '../src/clinical/chart-population';

const SCT = 'http://snomed.info/sct';
const hemiplegia: Condition = {
  resourceType: 'Condition',
  id: 'hemi',
  subject: { reference: 'Patient/p1' },
  code: { coding: [{ system: SCT, code: '50582007', display: 'Hemiplegia' }] },
};
const cast = (id: string, performed: string): Procedure => ({
  resourceType: 'Procedure',
  id,
  status: 'completed',
  subject: { reference: 'Patient/p1' },
  code: { coding: [{ system: SCT, code: '60389000', display: 'Paraplegia' }] },
  performedDateTime: performed,
});

describe('unionBranches', () => {
  it('cuts a union at its outermost |', () => {
    expect(unionBranches("%a.where(x = 'p|q') | %b.where((y | z).exists()) | %c")).toEqual([
      "%a.where(x = 'p|q')",
      '%b.where((y | z).exists())',
      '%c',
    ]);
  });

  it('leaves whole what is not a union at its root', () => {
    expect(unionBranches('%a.where(x | y)')).toEqual(['%a.where(x | y)']);
    expect(unionBranches('%a | %b = %c')).toEqual(['%a | %b = %c']);
    expect(unionBranches('%a | %b and %c')).toEqual(['%a | %b and %c']);
    expect(unionBranches('`a|b`.exists()')).toEqual(['`a|b`.exists()']);
  });
});

describe('chart evidence over time', () => {
  const rules = loadCardRules();
  const linkId = 'wells-paralysis-or-cast';

  it('keeps what the chart alone decides and asks the clock again for the rest', () => {
    const chart = { collections: { conditions: [hemiplegia], procedures: [cast('recent', '2026-10-01T10:00:00Z')] } };
    const ids = (now: string) =>
      rules.population
        .evidenceFor(linkId, { collections: { ...chart.collections } }, new Date(now))
        .map((r) => `${r.resourceType}/${r.id}`)
        .sort();

    expect(ids('2026-10-20T00:00:00Z')).toEqual(['Condition/hemi', 'Procedure/recent']);
    // Twelve weeks after the procedure it no longer counts; the condition still does.
    expect(ids('2027-01-10T00:00:00Z')).toEqual(['Condition/hemi']);
    expect(ids('2026-10-21T00:00:00Z')).toEqual(['Condition/hemi', 'Procedure/recent']);
  });

  it('keeps a clock-reading selection for a chart that gives it nothing to date, and dates every other chart again', () => {
    const surgery = 'wells-bedridden-or-surgery';
    const at = (chart: { collections: Record<string, unknown[]> }, now: string) =>
      rules.population.evidenceFor(surgery, { collections: { ...chart.collections } } as never, new Date(now));
    // No Procedure: the selection never asks the time, so the same chart gets the same (kept) evidence later.
    const none = { collections: { conditions: [hemiplegia], procedures: [] } };
    const first = at(none, '2026-10-20T00:00:00Z');
    expect(first).toEqual([]);
    expect(at(none, '2027-03-01T00:00:00Z')).toBe(first);
    // A surgery is dated against the clock at every call: in, out after twelve weeks, in again.
    const operation: Procedure = {
      ...cast('op', '2026-10-01T10:00:00Z'),
      code: { coding: [{ system: SCT, code: '387713003', display: 'Surgical procedure' }] },
    };
    const operated = { collections: { conditions: [], procedures: [operation] } };
    const ids = (now: string) => at(operated, now).map((r) => r.id);
    expect(ids('2026-10-20T00:00:00Z')).toEqual(['op']);
    expect(ids('2027-01-10T00:00:00Z')).toEqual([]);
    expect(ids('2026-10-21T00:00:00Z')).toEqual(['op']);
  });

  it('lists a resource selected by two branches once', () => {
    const twice = { collections: { conditions: [hemiplegia, { ...hemiplegia }], procedures: [] } };
    expect(rules.population.evidenceFor(linkId, twice, new Date('2026-10-20T00:00:00Z'))).toHaveLength(1);
  });
});
