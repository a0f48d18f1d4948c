import fs from 'fs';
import path from 'path';
import type { QuestionnaireResponse } from 'fhir/r4';
import { createSchemaValidator, DEFAULT_RESOURCE_TYPES, toExpression } from '../src/core/schema-validator';
import type { Problem } from '../src/core/outcome';

const validator = createSchemaValidator();

const readJson = (...parts: string[]): unknown => JSON.parse(fs.readFileSync(path.join(__dirname, ...parts), 'utf8'));

function qr(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base: QuestionnaireResponse = {
    resourceType: 'QuestionnaireResponse',
    status: 'completed',
    questionnaire: 'http://calfpain.example.org/fhir/Questionnaire/calf-pain|1.0.0',
    authored: '2024-03-01T09:30:00+01:00',
    item: [{ linkId: 'history', item: [{ linkId: 'onset-sudden', answer: [{ valueBoolean: true }] }] }],
  };
  return { ...base, ...extra };
}

const only = (problems: Problem[]): Problem => {
  expect(problems).toHaveLength(1);
  return problems[0];
};

describe('schema validation', () => {
  it('accepts valid resources of the listed types', () => {
    expect(validator.validate(qr())).toEqual([]);
    expect(validator.validate({ resourceType: 'Patient', id: 'p1', birthDate: '1970-05', gender: 'female' })).toEqual([]);
    expect(validator.resourceTypes).toEqual(DEFAULT_RESOURCE_TYPES);
  });

  it('accepts the calf-pain Questionnaire and the test Questionnaires', () => {
    expect(validator.validate(readJson('..', 'questionnaires', 'calf-pain.json'))).toEqual([]);
    expect(validator.validate(readJson('fixtures', 'validation', 'answer-types.questionnaire.json'))).toEqual([]);
    expect(validator.validate(readJson('fixtures', 'validation', 'enable-when.questionnaire.json'))).toEqual([]);
  });

  it('rejects something that is not a JSON object', () => {
    for (const value of [null, 'text', 42, [qr()]]) {
      expect(only(validator.validate(value)).message).toBe('A FHIR resource must be a JSON object');
    }
  });

  it('rejects a resource without resourceType', () => {
    expect(only(validator.validate({ status: 'completed' })).message).toBe('Missing resourceType');
  });

  it('rejects an unknown resourceType and one not accepted here', () => {
    expect(only(validator.validate({ resourceType: 'Questionaire' }))).toMatchObject({
      expression: 'resourceType',
      message: 'Unknown resourceType "Questionaire"',
    });
    const p = only(validator.validate({ resourceType: 'Observation', status: 'final', code: { text: 'x' } }));
    expect(p.message).toMatch(/^resourceType "Observation" is not accepted here \(accepted: QuestionnaireResponse, /);
    expect(p.code).toBe('not-supported');
  });

  it('refuses to build a validator for a type R4 does not have', () => {
    expect(() => createSchemaValidator(['QuestionnaireResponse', 'Wells'])).toThrow('Unknown FHIR R4 resource type: Wells');
  });

  it('reuses the validator built for the same list of types', () => {
    expect(createSchemaValidator()).toBe(validator);
    expect(createSchemaValidator([...DEFAULT_RESOURCE_TYPES].reverse())).toBe(validator);
  });

  it('names an unknown property, once, at its own path', () => {
    const resource = qr({ item: [{ linkId: 'a', foo: 1, answer: [{ valueBoolean: true }] }] });
    expect(only(validator.validate(resource))).toEqual({
      expression: 'QuestionnaireResponse.item[0].foo',
      message: 'Unknown property "foo" in QuestionnaireResponse.item[0]',
      code: 'structure',
      severity: 'error',
    });
  });

  it('reports a wrong JSON type without the pattern noise', () => {
    const resource = qr({ item: [{ linkId: 'a', answer: [{ valueBoolean: 'yes' }] }] });
    expect(only(validator.validate(resource))).toMatchObject({
      expression: 'QuestionnaireResponse.item[0].answer[0].valueBoolean',
      message: 'Wrong type for "valueBoolean": expected a boolean, got string "yes"',
    });
  });

  it('wants repeating elements as arrays', () => {
    expect(only(validator.validate(qr({ item: { linkId: 'a' } })))).toMatchObject({
      expression: 'QuestionnaireResponse.item',
      message: '"item" must be a JSON array (it repeats in FHIR), got an object',
    });
  });

  it('checks the format of primitives', () => {
    const p = only(validator.validate(qr({ authored: '2024-13-01' })));
    expect(p).toMatchObject({
      expression: 'QuestionnaireResponse.authored',
      message: 'Invalid FHIR dateTime for "authored": string "2024-13-01"',
      code: 'value',
    });
    const date = only(validator.validate(qr({ item: [{ linkId: 'a', answer: [{ valueDate: '01/02/2024' }] }] })));
    expect(date).toMatchObject({
      expression: 'QuestionnaireResponse.item[0].answer[0].valueDate',
      message: 'Invalid FHIR date for "valueDate": string "01/02/2024"',
    });
  });

  it('rejects empty strings', () => {
    const p = only(validator.validate(qr({ item: [{ linkId: 'a', answer: [{ valueString: '' }] }] })));
    expect(p).toMatchObject({
      expression: 'QuestionnaireResponse.item[0].answer[0].valueString',
      message: 'Empty string for "valueString": FHIR forbids empty strings; omit the element',
    });
  });

  it('checks required code values', () => {
    expect(only(validator.validate(qr({ status: 'done' })))).toMatchObject({
      expression: 'QuestionnaireResponse.status',
      message: 'Invalid code string "done" for "status": expected one of in-progress, completed, amended, entered-in-error, stopped',
      code: 'code-invalid',
    });
  });

  it('wants whole numbers for integer, positiveInt and unsignedInt', () => {
    const p = only(validator.validate(qr({ item: [{ linkId: 'a', answer: [{ valueInteger: 1.5 }] }] })));
    expect(p).toMatchObject({
      expression: 'QuestionnaireResponse.item[0].answer[0].valueInteger',
      message: 'Wrong type for "valueInteger": expected an integer, got number 1.5',
    });
    const total = only(validator.validate({ resourceType: 'Bundle', type: 'searchset', total: -1 }));
    expect(total).toMatchObject({ expression: 'Bundle.total', message: 'Invalid FHIR unsignedInt for "total": number -1' });
  });

  it('requires the 1..1 primitives the official schema leaves optional', () => {
    const { status: _status, ...withoutStatus } = qr();
    expect(only(validator.validate(withoutStatus))).toMatchObject({
      expression: 'QuestionnaireResponse.status',
      message: 'Missing required property "status"',
      code: 'required',
    });
    const p = only(validator.validate(qr({ item: [{ answer: [{ valueBoolean: true }] }] })));
    expect(p).toMatchObject({ expression: 'QuestionnaireResponse.item[0].linkId', message: 'Missing required property "linkId"' });
  });

  it('requires the complex elements the official schema marks required', () => {
    const p = only(validator.validate({ resourceType: 'RiskAssessment', status: 'final' }));
    expect(p).toMatchObject({ expression: 'RiskAssessment.subject', message: 'Missing required property "subject"' });
  });

  it('validates contained resources by their own type', () => {
    const resource = qr({
      contained: [
        { resourceType: 'Patient', id: 'p', birthDate: '1970-02-30x' },
        { resourceType: 'Nope', id: 'n' },
      ],
      subject: { reference: '#p' },
      author: { reference: '#n' },
    });
    expect(validator.validate(resource)).toEqual([
      expect.objectContaining({
        expression: 'QuestionnaireResponse.contained[0].birthDate',
        message: 'Invalid FHIR date for "birthDate": string "1970-02-30x"',
      }),
      expect.objectContaining({ expression: 'QuestionnaireResponse.contained[1].resourceType', message: 'Unknown resourceType "Nope"' }),
    ]);
  });

  it('validates Bundle entries, including types outside the list', () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:1', resource: qr({ status: 'done' }) },
        { resource: { resourceType: 'Observation', status: 'final', code: { text: 'D-dimer' }, valueQuantity: { value: 0.4 } } },
        { resource: { resourceType: 'Observation', status: 'final', code: { text: 'D-dimer' }, bogus: true } },
      ],
    };
    expect(validator.validate(bundle)).toEqual([
      expect.objectContaining({ expression: 'Bundle.entry[0].resource.status' }),
      expect.objectContaining({
        expression: 'Bundle.entry[2].resource.bogus',
        message: 'Unknown property "bogus" in Bundle.entry[2].resource',
      }),
    ]);
  });

  it('reports every error in one pass', () => {
    const resource = qr({ status: 'done', foo: 1, authored: 'yesterday', item: [{ linkId: 'a', answer: [{ valueInteger: '3' }] }] });
    const paths = ['foo', 'status', 'authored', 'item[0].answer[0].valueInteger'];
    expect(validator.validate(resource).map((p) => p.expression)).toEqual(paths.map((path) => `QuestionnaireResponse.${path}`));
  });
});

describe('toExpression', () => {
  it('turns a JSON pointer into a FHIRPath-like location', () => {
    expect(toExpression('QuestionnaireResponse', '/item/0/answer/0/valueBoolean')).toBe(
      'QuestionnaireResponse.item[0].answer[0].valueBoolean',
    );
    expect(toExpression('Bundle', '')).toBe('Bundle');
    expect(toExpression('Parameters', '/parameter/1/name~1x')).toBe('Parameters.parameter[1].name/x');
  });
});
