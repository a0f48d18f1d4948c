/**
 * Index values: the direct walk used for plain search-parameter paths gives exactly what FHIRPath gives,
 * on the bundled resources, on what the service emits, and on odd shapes clients may send.
 */
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import type { Resource } from 'fhir/r4';
import { loadEvaluator } from '../src/clinical/engine';
import { loadCatalog } from '../src/clinical/catalog';
import { compileSearchExpression, SEARCH_PARAMETERS } from '../src/storage/search-parameters';
import { buildResponse } from './support/build-response';

describe('search parameter expressions', () => {
  const evaluator = loadEvaluator();
  const qr = {
    ...buildResponse(
      { 'wells-active-cancer': true, 'pe-chest-pain': true },
      { id: 'qr-1', subject: 'Patient/p1', encounter: 'Encounter/e1' },
    ),
    identifier: { system: 'urn:x', value: 'abc' },
  };
  const { riskAssessment } = evaluator.evaluate(qr);
  const ra = { ...riskAssessment, id: 'ra-1' };
  const samples: Resource[] = [
    ...loadCatalog().resources,
    qr,
    ra,
    evaluator.provenance(ra, qr),
    { ...ra, occurrencePeriod: { start: '2026-01-01' }, occurrenceDateTime: undefined } as unknown as Resource,
    { ...qr, subject: { reference: 'Group/g1' } },
    { ...qr, subject: 'Patient/p1' } as unknown as Resource,
    { ...ra, prediction: [{ qualitativeRisk: { coding: [{ code: 'high' }] } }, null, {}] } as unknown as Resource,
    { ...ra, basis: [{ reference: 'QuestionnaireResponse/1' }, { display: 'no reference' }] },
    {
      ...evaluator.provenance(ra, qr),
      extension: [
        { url: 'http://example.org/other', valueString: 'x' },
        { url: 'http://calfpain.example.org/fhir/StructureDefinition/provenance-patient', valueReference: { reference: 'Patient/p2' } },
        { url: 'http://calfpain.example.org/fhir/StructureDefinition/provenance-patient', extension: [{ url: 'nested', valueCode: 'a' }] },
      ],
    } as Resource,
  ];

  it('agrees with FHIRPath for every parameter on every sample', () => {
    let compared = 0;
    for (const [type, params] of Object.entries(SEARCH_PARAMETERS)) {
      for (const param of params) {
        const fast = compileSearchExpression(param.expression);
        const reference = fhirpath.compile(param.expression, r4Model);
        for (const resource of samples.filter((r) => r.resourceType === type)) {
          expect({ param: `${type}.${param.name}`, values: fast(structuredClone(resource)) }).toEqual({
            param: `${type}.${param.name}`,
            values: reference(structuredClone(resource)),
          });
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(40);
  });

  it('walks choice elements by their typed names', () => {
    expect(
      compileSearchExpression('RiskAssessment.occurrence')({ resourceType: 'RiskAssessment', occurrenceDateTime: '2026-01-02' }),
    ).toEqual(['2026-01-02']);
    expect(compileSearchExpression('RiskAssessment.occurrence')({ resourceType: 'Patient', occurrenceDateTime: '2026-01-02' })).toEqual([]);
  });
});
