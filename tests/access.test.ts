/**
 * SMART v2 scopes and the patient compartment, as the FHIR routes see them through checkAccess and
 * compartmentCriterion.
 */
import type { Provenance, QuestionnaireResponse, Resource, RiskAssessment } from 'fhir/r4';
import { OperationOutcomeError } from '../src/core/outcome';
import { EXT_PROVENANCE_PATIENT } from '../src/core/canonical';
import { normaliseReference } from '../src/core/references';
import { indexResource } from '../src/storage/search-parameters';
import { checkAccess, compartmentCriterion, type AccessContext } from '../src/auth/access';
import { grantableScopes, parseScope, scopesFromClaims, type Interaction } from '../src/auth/scopes';
import { outcomeStatusOf } from './support/outcome-errors';

const ctx = (scopes: string[], patient?: string): AccessContext => ({
  issuer: 'https://auth.example.org',
  subject: 'u',
  scopes,
  ...(patient ? { patient } : {}),
});

const qr = (patient: string): QuestionnaireResponse => ({
  resourceType: 'QuestionnaireResponse',
  status: 'completed',
  subject: { reference: `Patient/${patient}` },
});
const ra = (patient: string): RiskAssessment => ({
  resourceType: 'RiskAssessment',
  status: 'final',
  subject: { reference: `Patient/${patient}` },
});
const prov = (...targets: string[]): Provenance => ({
  resourceType: 'Provenance',
  recorded: '2025-06-01T12:00:00Z',
  agent: [{ who: { display: 'calf-pain CDS' } }],
  target: targets.map((reference) => ({ reference })),
});

const outcomeOf = (fn: () => void): number | 'allowed' => outcomeStatusOf(fn, 'allowed' as const);

describe('parseScope', () => {
  it.each<[string, { level: string; resourceType: string; interactions: string } | undefined]>([
    ['patient/QuestionnaireResponse.c', { level: 'patient', resourceType: 'QuestionnaireResponse', interactions: 'c' }],
    ['user/RiskAssessment.rs', { level: 'user', resourceType: 'RiskAssessment', interactions: 'rs' }],
    ['system/*.rs', { level: 'system', resourceType: '*', interactions: 'rs' }],
    ['patient/*.cruds', { level: 'patient', resourceType: '*', interactions: 'cruds' }],
    ['patient/Observation.read', { level: 'patient', resourceType: 'Observation', interactions: 'rs' }],
    ['user/RiskAssessment.write', { level: 'user', resourceType: 'RiskAssessment', interactions: 'cud' }],
    ['system/*.*', { level: 'system', resourceType: '*', interactions: 'cruds' }],
    ['patient/Observation.sr', undefined], // v2 letters must be in c r u d s order
    ['patient/Observation.rr', undefined],
    ['patient/Observation.x', undefined],
    ['patient/Observation.rs?category=laboratory', undefined], // fine-grained: not understood, grants nothing
    ['admin/*.rs', undefined],
    ['patient/observation.rs', undefined],
    ['openid', undefined],
    ['launch/patient', undefined],
  ])('%s', (scope, expected) => {
    const parsed = parseScope(scope);
    if (!expected) expect(parsed).toBeUndefined();
    else
      expect(parsed && { level: parsed.level, resourceType: parsed.resourceType, interactions: [...parsed.interactions].join('') }).toEqual(
        expected,
      );
  });

  it('reads scope strings and scp arrays, deduplicated', () => {
    expect(scopesFromClaims({ scope: ' a  b a ', scp: ['c', 'a', 7] })).toEqual(['a', 'b', 'c']);
    expect(scopesFromClaims({})).toEqual([]);
  });

  it('keeps only requested scopes the issuer may grant', () => {
    expect(
      grantableScopes(
        ['system/*.rs', 'system/RiskAssessment.r', 'user/RiskAssessment.rs', 'patient/RiskAssessment.rs'],
        ['system/RiskAssessment.rs', 'user/*.read'],
      ),
    ).toEqual(['system/RiskAssessment.r', 'user/RiskAssessment.rs']);
  });
});

describe('checkAccess: scopes', () => {
  type Row = [string, string[], Interaction, string, number | 'allowed'];
  it.each<Row>([
    ['system wildcard read allows read', ['system/*.rs'], 'r', 'RiskAssessment', 'allowed'],
    ['system wildcard read allows search', ['system/*.rs'], 's', 'QuestionnaireResponse', 'allowed'],
    ['system wildcard read forbids create', ['system/*.rs'], 'c', 'QuestionnaireResponse', 403],
    ['user type scope allows its type', ['user/RiskAssessment.rs'], 's', 'RiskAssessment', 'allowed'],
    ['user type scope forbids another type', ['user/RiskAssessment.rs'], 's', 'QuestionnaireResponse', 403],
    ['create-only scope forbids read', ['user/QuestionnaireResponse.c'], 'r', 'QuestionnaireResponse', 403],
    ['v1 .write allows update', ['user/QuestionnaireResponse.write'], 'u', 'QuestionnaireResponse', 'allowed'],
    ['v1 .read forbids delete', ['user/QuestionnaireResponse.read'], 'd', 'QuestionnaireResponse', 403],
    ['no scopes forbids everything', [], 'r', 'RiskAssessment', 403],
    ['no scopes still reads the public Questionnaire', [], 'r', 'Questionnaire', 'allowed'],
    ['no scopes still searches the public Questionnaire', [], 's', 'Questionnaire', 'allowed'],
    ['no scopes cannot create a Questionnaire', [], 'c', 'Questionnaire', 403],
    ['fine-grained scope grants nothing', ['user/RiskAssessment.rs?code=x'], 's', 'RiskAssessment', 403],
  ])('%s', (_name, scopes, interaction, type, expected) => {
    expect(outcomeOf(() => checkAccess(ctx(scopes), interaction, type))).toBe(expected);
  });

  it('AUTH_MODE=off (no context) allows everything', () => {
    expect(outcomeOf(() => checkAccess(undefined, 'd', 'RiskAssessment', ra('p1')))).toBe('allowed');
  });

  it('the refusal is an OperationOutcome with code forbidden', () => {
    try {
      checkAccess(ctx([]), 'c', 'RiskAssessment');
      throw new Error('allowed');
    } catch (e) {
      expect((e as OperationOutcomeError).outcome.issue[0].code).toBe('forbidden');
    }
  });
});

describe('checkAccess: patient compartment', () => {
  const p1 = ctx(['patient/QuestionnaireResponse.cru', 'patient/RiskAssessment.rs', 'patient/Provenance.rs'], 'p1');
  type Row = [string, AccessContext, Interaction, Resource, number | 'allowed'];
  it.each<Row>([
    ['creates a QuestionnaireResponse for its patient', p1, 'c', qr('p1'), 'allowed'],
    ['refuses to create one for another patient', p1, 'c', qr('p2'), 403],
    [
      'refuses a QuestionnaireResponse without subject',
      p1,
      'c',
      { resourceType: 'QuestionnaireResponse', status: 'completed' } as Resource,
      403,
    ],
    ['refuses a subject that is a Group', p1, 'c', { ...qr('p1'), subject: { reference: 'Group/p1' } } as Resource, 403],
    ['reads its own RiskAssessment', p1, 'r', ra('p1'), 'allowed'],
    ["refuses another patient's RiskAssessment", p1, 'r', ra('p2'), 403],
    [
      'accepts an absolute reference to its patient',
      p1,
      'r',
      { ...ra('x'), subject: { reference: 'https://cds.example/fhir/Patient/p1' } } as Resource,
      'allowed',
    ],
    ['refuses a patient id that only starts the same', p1, 'r', ra('p10'), 403],
    ['reads Provenance whose target is its patient', p1, 'r', prov('RiskAssessment/1', 'Patient/p1'), 'allowed'],
    ['refuses Provenance targeting only a RiskAssessment', p1, 'r', prov('RiskAssessment/1'), 403],
    [
      'reads Provenance carrying its patient in the provenance-patient extension',
      p1,
      'r',
      { ...prov('RiskAssessment/1'), extension: [{ url: EXT_PROVENANCE_PATIENT, valueReference: { reference: 'Patient/p1' } }] },
      'allowed',
    ],
    [
      'refuses Provenance whose extension names another patient',
      p1,
      'r',
      { ...prov('RiskAssessment/1'), extension: [{ url: EXT_PROVENANCE_PATIENT, valueReference: { reference: 'Patient/p2' } }] },
      403,
    ],
    ['refuses Provenance targeting another patient', p1, 'r', prov('Patient/p2'), 403],
    ['updates its own response', p1, 'u', qr('p1'), 'allowed'],
    ['cannot delete (scope lacks d)', p1, 'd', qr('p1'), 403],
    ['patient scope without a patient claim grants nothing', ctx(['patient/RiskAssessment.rs']), 'r', ra('p1'), 403],
    ['user scope beats compartment', ctx(['patient/RiskAssessment.rs', 'user/RiskAssessment.rs'], 'p1'), 'r', ra('p2'), 'allowed'],
  ])('%s', (_name, c, interaction, resource, expected) => {
    expect(outcomeOf(() => checkAccess(c, interaction, resource.resourceType, resource))).toBe(expected);
  });

  it('refuses a resource whose type differs from the one requested', () => {
    expect(outcomeOf(() => checkAccess(p1, 'r', 'RiskAssessment', qr('p1')))).toBe(403);
  });

  it('the Patient resource itself is in its own compartment only', () => {
    const c = ctx(['patient/Patient.r'], 'p1');
    expect(outcomeOf(() => checkAccess(c, 'r', 'Patient', { resourceType: 'Patient', id: 'p1' }))).toBe('allowed');
    expect(outcomeOf(() => checkAccess(c, 'r', 'Patient', { resourceType: 'Patient', id: 'p2' }))).toBe(403);
  });

  it('a resource type with no patient link is outside every compartment', () => {
    const c = ctx(['patient/*.cruds'], 'p1');
    expect(outcomeOf(() => checkAccess(c, 'r', 'Library', { resourceType: 'Library', status: 'active', type: {} } as Resource))).toBe(403);
  });
});

describe('compartmentCriterion', () => {
  it('restricts a patient-level search to Patient/<id>', () => {
    const c = ctx(['patient/RiskAssessment.rs', 'patient/QuestionnaireResponse.rs', 'patient/Provenance.rs'], 'p1');
    for (const type of ['RiskAssessment', 'QuestionnaireResponse', 'Provenance']) {
      expect(compartmentCriterion(c, type)).toEqual({ param: 'patient', kind: 'exact', values: ['Patient/p1'] });
    }
  });

  it('restricts Patient searches by _id', () => {
    expect(compartmentCriterion(ctx(['patient/Patient.rs'], 'p1'), 'Patient')).toEqual({ param: '_id', kind: 'exact', values: ['p1'] });
  });

  it('adds nothing for user/system scopes, public types or auth off', () => {
    expect(compartmentCriterion(ctx(['system/*.rs']), 'RiskAssessment')).toBeUndefined();
    expect(compartmentCriterion(ctx(['user/RiskAssessment.rs', 'patient/RiskAssessment.rs'], 'p1'), 'RiskAssessment')).toBeUndefined();
    expect(compartmentCriterion(ctx(['patient/*.rs'], 'p1'), 'Questionnaire')).toBeUndefined();
    expect(compartmentCriterion(undefined, 'RiskAssessment')).toBeUndefined();
  });

  it('fails closed: a patient scope without a patient, or a type without a patient link, matches nothing', () => {
    const none = compartmentCriterion(ctx(['patient/RiskAssessment.rs']), 'RiskAssessment');
    expect(none?.kind === 'exact' && none.values).toEqual(['Patient/#none']);
    const library = compartmentCriterion(ctx(['patient/*.rs'], 'p1'), 'Library');
    expect(library).toEqual({ param: '_id', kind: 'exact', values: ['#none'] });
  });
});

describe('access control and the search index read references the same way', () => {
  // A patient-level search finds what the index holds under patient=Patient/<id> (compartmentCriterion);
  // a read is allowed by checkAccess. Both must agree on every reference form, or a resource could be
  // readable but not found, or found but not readable.
  const p1 = ctx(['patient/RiskAssessment.rs', 'patient/Provenance.rs'], 'p1');
  const criterion = compartmentCriterion(p1, 'RiskAssessment');
  const wanted = criterion?.kind === 'exact' ? criterion.values[0] : undefined;
  it.each([
    'Patient/p1',
    'https://cds.example/fhir/Patient/p1',
    'Patient/p1/_history/2',
    'https://cds.example/fhir/Patient/p1/_history/3',
    'Patient/p1/_history/not_an_id',
    'Patient/p1/',
    'Patient/p10',
    'Patient/p1x',
    'xPatient/p1',
    'patient/p1',
    'Group/p1',
    'p1',
    'urn:uuid:p1',
  ])('%s', (reference) => {
    const provenance: Provenance = {
      ...prov('RiskAssessment/1'),
      extension: [{ url: EXT_PROVENANCE_PATIENT, valueReference: { reference } }],
    };
    // The `patient` parameter of RiskAssessment indexes only relative `Patient/` references (its R4
    // expression): absolute URLs are compared through the Provenance extension, which indexes any form.
    const resources: Resource[] = [
      provenance,
      ...(reference.includes('://') ? [] : [{ ...ra('x'), subject: { reference } } as RiskAssessment]),
    ];
    for (const resource of resources) {
      const found = indexResource(resource).some((e) => e.param === 'patient' && e.value === wanted);
      const allowed = outcomeOf(() => checkAccess(p1, 'r', resource.resourceType, resource)) === 'allowed';
      expect({ type: resource.resourceType, allowed }).toEqual({ type: resource.resourceType, allowed: found });
    }
  });

  it('the shared normalisation keeps Type/id and drops the base URL and version', () => {
    expect(normaliseReference('https://cds.example/fhir/Patient/p1/_history/3')).toBe('Patient/p1');
    expect(normaliseReference('QuestionnaireResponse/q.1')).toBe('QuestionnaireResponse/q.1');
    expect(normaliseReference('urn:uuid:1')).toBe('urn:uuid:1');
  });
});
