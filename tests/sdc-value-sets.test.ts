/**
 * The chart code lists as ValueSets: membership by code, by code filter and by text, each ValueSet
 * compiled once; a Questionnaire naming a value set the server does not hold is refused at start-up.
 */
import type { Questionnaire, ValueSet } from 'fhir/r4';
import { loadCatalog } from '../src/clinical/catalog';
import { compilePopulationPlan, PopulationError } from '../src/clinical/chart-population';
import { compileValueSet, createValueSetIndex, ValueSetError } from '../src/clinical/value-set-index';
import { expectValidR4 } from './support/r4-validator';

const catalog = loadCatalog();
const index = createValueSetIndex(catalog.valueSets);
const VS = 'http://calfpain.example.org/fhir/ValueSet';
const ICD10 = 'http://hl7.org/fhir/sid/icd-10';
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';

describe('the Wells chart ValueSets', () => {
  it('are valid R4', () => {
    for (const id of ['wells-active-cancer', 'wells-previous-dvt', 'wells-major-surgery', 'wells-paralysis-or-cast']) {
      const vs = catalog.valueSets.find((v) => v.id === id)!;
      expectValidR4(vs);
    }
  });

  it.each([
    ['wells-active-cancer', { coding: [{ system: ICD10, code: 'C34.1' }] }, true],
    ['wells-active-cancer', { coding: [{ system: 'http://snomed.info/sct', code: '363346000' }] }, true],
    ['wells-active-cancer', { coding: [{ system: ICD10CM, code: 'D05.1' }] }, false],
    ['wells-active-cancer', { text: 'Acute myeloid leukaemia' }, true],
    ['wells-active-cancer', { coding: [{ system: 'http://example.org/other', code: 'C34.1' }] }, false],
    ['wells-previous-dvt', { coding: [{ system: ICD10CM, code: 'Z86.718' }] }, true],
    ['wells-previous-dvt', { coding: [{ system: ICD10CM, code: 'Z86.71' }] }, false],
    ['wells-previous-dvt', { coding: [{ display: 'h/o DVT' }] }, true],
    ['wells-major-surgery', { coding: [{ system: 'http://snomed.info/sct', code: '387713003' }] }, true],
    ['wells-major-surgery', { text: 'Laparoscopic cholecystectomy' }, true],
    ['wells-paralysis-or-cast', { coding: [{ system: ICD10, code: 'G82.2' }] }, true],
    ['wells-paralysis-or-cast', { text: 'Podcast interview' }, false],
    ['wells-paralysis-or-cast', { coding: 'not an array', text: 42 }, false],
  ])('%s contains %j: %s', (id, concept, expected) => {
    expect(index.get(`${VS}/${id}`)!.contains(concept)).toBe(expected);
  });

  it('refuses what it cannot honour: a filter other than code regex, an include without system', () => {
    const base: ValueSet = { resourceType: 'ValueSet', id: 'x', url: 'http://example.org/vs', status: 'active' };
    expect(() =>
      compileValueSet({
        ...base,
        compose: { include: [{ system: ICD10, filter: [{ property: 'concept', op: 'is-a', value: 'C00-C97' }] }] },
      }),
    ).toThrow(ValueSetError);
    expect(() => compileValueSet({ ...base, compose: { include: [{ concept: [{ code: 'a' }] }] } })).toThrow(ValueSetError);
  });

  it('a Questionnaire naming a value set the server does not hold does not compile', () => {
    const q = JSON.parse(JSON.stringify(catalog.questionnaires[0])) as Questionnaire;
    const text = JSON.stringify(q).replace(`${VS}/wells-previous-dvt`, `${VS}/wells-previous-dvt-typo`);
    expect(() => compilePopulationPlan(JSON.parse(text) as Questionnaire, index)).toThrow(PopulationError);
  });
});
