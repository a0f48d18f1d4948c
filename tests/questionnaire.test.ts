/**
 * The calf-pain Questionnaire and the project terminology, read as a specification:
 * the linkIds EHRs and portals rely on, their types and answer codes, what is (not) required or
 * conditional, validity as FHIR R4, and the SDC calculation of the Wells DVT score.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as fhirpath from 'fhirpath';
import * as r4model from 'fhirpath/fhir-context/r4';
import type {
  CodeSystem,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  Resource,
  ValueSet,
} from 'fhir/r4';
import { CS_CALF_PAIN, QUESTIONNAIRE_URL } from '../src/core/canonical';
import { validateR4 } from './support/r4-validator';

const ROOT = path.resolve(__dirname, '..');
const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

const questionnaireFiles = fs
  .readdirSync(path.join(ROOT, 'questionnaires'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => path.join('questionnaires', f));
const terminologyFiles = fs
  .readdirSync(path.join(ROOT, 'fhir-resources'))
  .filter((f) => /^(CodeSystem|ValueSet)-.*\.json$/.test(f))
  .map((f) => path.join('fhir-resources', f));

const questionnaire = readJson<Questionnaire>(path.join(ROOT, 'questionnaires', 'calf-pain.json'));
const codeSystem = readJson<CodeSystem>(path.join(ROOT, 'fhir-resources', 'CodeSystem-calf-pain.json'));

const VARIABLE = 'http://hl7.org/fhir/StructureDefinition/variable';
const CALCULATED = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression';
const ENABLE_WHEN_EXPRESSION = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression';
const ITEM_CONTROL = 'http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl';

/** Every item with the linkId of its parent ('' at top level). */
function flatten(items: QuestionnaireItem[] = [], parent = ''): { item: QuestionnaireItem; parent: string }[] {
  return items.flatMap((item) => [{ item, parent }, ...flatten(item.item, item.linkId)]);
}
const all = flatten(questionnaire.item);
const byLinkId = new Map(all.map((e) => [e.item.linkId, e]));
const get = (linkId: string): QuestionnaireItem => {
  const entry = byLinkId.get(linkId);
  if (!entry) throw new Error(`no item ${linkId}`);
  return entry.item;
};

/** The contract: linkId -> [group, type]. */
const CONTRACT: Record<string, [string, QuestionnaireItem['type']]> = {
  'affected-side': ['history', 'choice'],
  'onset-sudden': ['history', 'boolean'],
  'onset-during-activity': ['history', 'boolean'],
  'snap-felt': ['history', 'boolean'],
  'pain-site': ['history', 'choice'],
  'pain-intermittent-cramping': ['history', 'boolean'],
  'relieved-by-stretching-heat': ['history', 'boolean'],
  bruising: ['history', 'boolean'],
  'calf-swelling-reported': ['history', 'boolean'],
  'knee-swelling-or-arthritis': ['history', 'boolean'],
  'push-off-weakness': ['history', 'boolean'],
  'recent-injury': ['history', 'boolean'],
  'wells-active-cancer': ['risk-factors', 'boolean'],
  'wells-paralysis-or-cast': ['risk-factors', 'boolean'],
  'wells-bedridden-or-surgery': ['risk-factors', 'boolean'],
  'wells-previous-dvt': ['risk-factors', 'boolean'],
  'wells-tenderness-deep-veins': ['examination', 'boolean'],
  'wells-entire-leg-swollen': ['examination', 'boolean'],
  'wells-calf-swelling-3cm': ['examination', 'boolean'],
  'wells-pitting-edema': ['examination', 'boolean'],
  'wells-collateral-veins': ['examination', 'boolean'],
  'wells-alternative-diagnosis': ['examination', 'boolean'],
  'pe-shortness-of-breath': ['red-flags', 'boolean'],
  'pe-chest-pain': ['red-flags', 'boolean'],
  'pe-coughing-blood': ['red-flags', 'boolean'],
  'wells-score': ['', 'integer'],
};
const GROUPS = ['history', 'risk-factors', 'examination', 'red-flags'];

/** Wells DVT criteria and their points (Wells PS et al. NEJM 2003;349:1227). */
const WELLS_POINTS: Record<string, number> = {
  'wells-active-cancer': 1,
  'wells-paralysis-or-cast': 1,
  'wells-bedridden-or-surgery': 1,
  'wells-tenderness-deep-veins': 1,
  'wells-entire-leg-swollen': 1,
  'wells-calf-swelling-3cm': 1,
  'wells-pitting-edema': 1,
  'wells-collateral-veins': 1,
  'wells-previous-dvt': 1,
  'wells-alternative-diagnosis': -2,
};
const WELLS_IDS = Object.keys(WELLS_POINTS);

const codesOf = (item: QuestionnaireItem) => (item.answerOption ?? []).map((o) => o.valueCoding?.code);

describe('calf-pain Questionnaire: identity', () => {
  it('is the active version 1.0.0 at the canonical url, for Patients, with SDC profiles', () => {
    expect(questionnaire).toMatchObject({
      resourceType: 'Questionnaire',
      id: 'calf-pain',
      url: QUESTIONNAIRE_URL,
      version: '1.0.0',
      status: 'active',
      subjectType: ['Patient'],
    });
    for (const field of ['name', 'title', 'date', 'publisher', 'description', 'purpose', 'copyright'] as const)
      expect(questionnaire[field]).toBeTruthy();
    expect(questionnaire.copyright).toMatch(/349:1227/);
    expect(questionnaire.copyright).toMatch(/350:1795/);
    expect(questionnaire.copyright).toMatch(/NG158/);
    expect(questionnaire.meta?.profile).toEqual(
      expect.arrayContaining(['http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire']),
    );
  });

  it('has unique linkIds', () => {
    const ids = all.map((e) => e.item.linkId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('has the four groups at top level in order, then wells-score', () => {
    expect((questionnaire.item ?? []).map((i) => [i.linkId, i.type])).toEqual([
      ...GROUPS.map((g) => [g, 'group']),
      ['wells-score', 'integer'],
    ]);
  });
});

describe('calf-pain Questionnaire: the linkId contract', () => {
  it.each(Object.entries(CONTRACT))('%s is present in its group with the contract type', (linkId, [group, type]) => {
    const entry = byLinkId.get(linkId);
    expect(entry).toBeDefined();
    expect(entry?.parent).toBe(group);
    expect(entry?.item.type).toBe(type);
  });

  it('affected-side offers exactly left, right, both from the calf-pain CodeSystem', () => {
    const item = get('affected-side');
    expect(codesOf(item)).toEqual(['left', 'right', 'both']);
    expect(item.answerOption?.every((o) => o.valueCoding?.system === CS_CALF_PAIN)).toBe(true);
    expect(item.repeats).toBeFalsy();
  });

  it('pain-site offers exactly the five sites from the calf-pain CodeSystem', () => {
    const item = get('pain-site');
    expect(codesOf(item)).toEqual(['calf-belly', 'inner-calf', 'behind-knee', 'heel-achilles', 'whole-leg']);
    expect(item.answerOption?.every((o) => o.valueCoding?.system === CS_CALF_PAIN)).toBe(true);
  });

  it('answer codes and displays come from the CodeSystem', () => {
    const concepts = new Map((codeSystem.concept ?? []).map((c) => [c.code, c.display]));
    for (const { item } of all) {
      for (const option of item.answerOption ?? []) {
        expect(concepts.get(option.valueCoding?.code ?? '')).toBe(option.valueCoding?.display);
      }
    }
  });

  it('wells-score is a read-only integer with an SDC calculatedExpression', () => {
    const item = get('wells-score');
    expect(item.readOnly).toBe(true);
    expect(item.extension?.filter((e) => e.url === CALCULATED)).toHaveLength(1);
  });

  it('no contract item is conditional (vignettes and portals may answer any of them)', () => {
    for (const linkId of Object.keys(CONTRACT)) {
      expect(get(linkId).enableWhen).toBeUndefined();
      expect(get(linkId).extension?.some((e) => e.url === ENABLE_WHEN_EXPRESSION) ?? false).toBe(false);
    }
    for (const group of GROUPS) expect(get(group).enableWhen).toBeUndefined();
  });

  it('requires no item, so any partial response (patients cannot examine themselves) is complete and evaluated', () => {
    expect(all.filter((e) => e.item.required).map((e) => e.item.linkId)).toEqual([]);
    for (const { item, parent } of all) {
      if (parent === 'examination' || parent === 'red-flags') expect(item.required).toBeFalsy();
    }
  });
});

describe('calf-pain Questionnaire: optional detail items and help', () => {
  it.each([
    ['injury-details', 'history', 'recent-injury'],
    ['cancer-details', 'risk-factors', 'wells-active-cancer'],
    ['surgery-details', 'risk-factors', 'wells-bedridden-or-surgery'],
  ])('%s is an optional string shown only when %s/%s is answered yes', (linkId, group, trigger) => {
    const item = get(linkId);
    expect(byLinkId.get(linkId)?.parent).toBe(group);
    expect(item.type).toBe('string');
    expect(item.required).toBeFalsy();
    expect(item.enableWhen).toEqual([{ question: trigger, operator: '=', answerBoolean: true }]);
  });

  it('every enableWhen refers to an existing boolean item', () => {
    for (const { item } of all) {
      for (const condition of item.enableWhen ?? []) {
        expect(get(condition.question).type).toBe('boolean');
        expect(condition.answerBoolean).toBeDefined();
      }
    }
  });

  it.each(WELLS_IDS)('%s carries a help display item stating the criterion', (linkId) => {
    const help = (get(linkId).item ?? []).find((i) => i.linkId === `${linkId}-help`);
    expect(help?.type).toBe('display');
    expect(help?.text).toMatch(/Wells criterion \([+-][12]\)/);
    const control = help?.extension?.find((e) => e.url === ITEM_CONTROL)?.valueCodeableConcept?.coding?.[0];
    expect(control).toMatchObject({ system: 'http://hl7.org/fhir/questionnaire-item-control', code: 'help' });
  });

  it('states the measurement rule for calf swelling and the time windows of the risk factors', () => {
    expect(get('wells-calf-swelling-3cm-help').text).toMatch(/3 cm.*10 cm below the tibial tuberosity/);
    expect(get('wells-active-cancer-help').text).toMatch(/6 months.*palliative/);
    expect(get('wells-bedridden-or-surgery-help').text).toMatch(/3 days.*12 weeks.*general or regional anaesthesia/);
    expect(get('wells-alternative-diagnosis-help').text).toMatch(/at least as likely as deep vein thrombosis/);
  });

  it('red-flag items tell the patient to seek emergency care', () => {
    for (const linkId of ['pe-shortness-of-breath', 'pe-chest-pain', 'pe-coughing-blood']) {
      expect(get(`${linkId}-help`).text).toMatch(/emergency/);
    }
  });
});

// ---- The Wells calculation, evaluated as LHC-Forms does: root variables first, then the expression. ----

const r4 = r4model;

function response(answers: Record<string, boolean>): QuestionnaireResponse {
  const groupItems = (group: string): QuestionnaireResponseItem[] =>
    (get(group).item ?? [])
      .filter((i) => i.linkId in answers)
      .map((i) => ({ linkId: i.linkId, answer: [{ valueBoolean: answers[i.linkId] }] }));
  return {
    resourceType: 'QuestionnaireResponse',
    status: 'completed',
    questionnaire: `${QUESTIONNAIRE_URL}|1.0.0`,
    item: [
      {
        linkId: 'history',
        item: [{ linkId: 'affected-side', answer: [{ valueCoding: { system: CS_CALF_PAIN, code: 'left', display: 'Left leg' } }] }],
      },
      ...['risk-factors', 'examination'].map((g) => ({ linkId: g, item: groupItems(g) })).filter((g) => g.item.length > 0),
    ],
  };
}

function calculatedScore(qr: QuestionnaireResponse): unknown[] {
  const env: Record<string, unknown> = { resource: qr };
  for (const ext of questionnaire.extension ?? []) {
    if (
      ext.url !== VARIABLE ||
      ext.valueExpression?.language !== 'text/fhirpath' ||
      !ext.valueExpression.name ||
      !ext.valueExpression.expression
    )
      continue;
    env[ext.valueExpression.name] = fhirpath.evaluate(qr, ext.valueExpression.expression, { ...env }, r4);
  }
  const expression = get('wells-score').extension?.find((e) => e.url === CALCULATED)?.valueExpression?.expression ?? '';
  return fhirpath.evaluate(qr, expression, env, r4) as unknown[];
}

/** Independent oracle: the published points; no score until every criterion is answered. */
const oracle = (answers: Record<string, boolean>): number | undefined =>
  WELLS_IDS.every((id) => id in answers)
    ? WELLS_IDS.reduce((sum, id) => sum + (answers[id] === true ? WELLS_POINTS[id] : 0), 0)
    : undefined;
const allNo = Object.fromEntries(WELLS_IDS.map((id) => [id, false]));

const yes = (...ids: string[]) => Object.fromEntries(ids.map((id) => [id, true]));

describe('calf-pain Questionnaire: Wells score calculatedExpression', () => {
  it('declares one root fhirpath variable per Wells criterion', () => {
    const variables = (questionnaire.extension ?? [])
      .filter((e) => e.url === VARIABLE && e.valueExpression?.language === 'text/fhirpath')
      .map((e) => e.valueExpression);
    expect(variables).toHaveLength(WELLS_IDS.length);
    for (const v of variables) {
      expect(v?.language).toBe('text/fhirpath');
      expect(v?.name).toMatch(/^[A-Za-z][A-Za-z0-9_]*$/);
    }
    const referenced = variables.map((v) => /linkId='([^']+)'/.exec(v?.expression ?? '')?.[1]).sort();
    expect(referenced).toEqual([...WELLS_IDS].sort());
    const expression = get('wells-score').extension?.find((e) => e.url === CALCULATED)?.valueExpression;
    expect(expression?.language).toBe('text/fhirpath');
    for (const v of variables) expect(expression?.expression).toContain(`%${v?.name}`);
  });

  it.each<[string, number | undefined, Record<string, boolean>]>([
    ['every criterion yes (nine +1, alternative diagnosis -2)', 7, yes(...WELLS_IDS)],
    ['alternative diagnosis only, the rest no', -2, { ...allNo, ...yes('wells-alternative-diagnosis') }],
    ['every criterion answered no', 0, allNo],
    [
      'all nine positive criteria, no alternative diagnosis (maximum)',
      9,
      { ...allNo, ...yes(...WELLS_IDS.filter((id) => id !== 'wells-alternative-diagnosis')) },
    ],
    [
      'cancer + bedridden after surgery + calf swelling',
      3,
      { ...allNo, ...yes('wells-active-cancer', 'wells-bedridden-or-surgery', 'wells-calf-swelling-3cm') },
    ],
    ['previous DVT but alternative diagnosis as likely', -1, { ...allNo, ...yes('wells-previous-dvt', 'wells-alternative-diagnosis') }],
    [
      'tenderness + pitting oedema, other criteria answered no',
      2,
      { ...allNo, ...yes('wells-tenderness-deep-veins', 'wells-pitting-edema') },
    ],
    ['nothing answered: no score', undefined, {}],
    ['alternative diagnosis only, examination otherwise not done: no score', undefined, yes('wells-alternative-diagnosis')],
    ['risk factors only, examination not done: no score', undefined, yes('wells-active-cancer', 'wells-paralysis-or-cast')],
  ])('%s -> %s', (_name, expected, answers) => {
    expect(oracle(answers)).toBe(expected);
    expect(calculatedScore(response(answers))).toEqual(expected === undefined ? [] : [expected]);
  });

  it('agrees with the published points for every one of 120 pseudo-random answer patterns', () => {
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let n = 0; n < 120; n++) {
      const answers: Record<string, boolean> = {};
      for (const id of WELLS_IDS) {
        const r = next();
        if (r < 0.4) answers[id] = true;
        else if (r < 0.7) answers[id] = false; // else unanswered
      }
      const expected = oracle(answers);
      expect(calculatedScore(response(answers))).toEqual(expected === undefined ? [] : [expected]);
    }
  });

  it('the responses used here are valid R4', () => {
    expect(validateR4(response(yes(...WELLS_IDS)))).toEqual([]);
  });
});

/** The seven causes of calf pain, as codes of CodeSystem calf-pain. */
const CAUSE_CODES = [
  'calf-muscle-strain',
  'medial-gastrocnemius-strain',
  'plantaris-rupture',
  'achilles-tendinopathy-rupture',
  'bakers-cyst',
  'dvt',
  'leg-cramps',
];

describe('terminology', () => {
  it('CodeSystem calf-pain is complete, case-sensitive, at CS_CALF_PAIN, with the codes the service uses', () => {
    expect(codeSystem).toMatchObject({ url: CS_CALF_PAIN, content: 'complete', caseSensitive: true, status: 'active' });
    const codes = (codeSystem.concept ?? []).map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codeSystem.count).toBe(codes.length);
    expect(codes).toEqual(
      expect.arrayContaining([
        'wells-dvt',
        'likely',
        'unlikely',
        ...CAUSE_CODES,
        'left',
        'right',
        'both',
        'calf-belly',
        'inner-calf',
        'behind-knee',
        'heel-achilles',
        'whole-leg',
      ]),
    );
    for (const c of codeSystem.concept ?? []) expect(c.display).toBeTruthy();
  });

  it('CodeSystem properties are declared and parents exist', () => {
    const declared = new Set((codeSystem.property ?? []).map((p) => p.code));
    const codes = new Set((codeSystem.concept ?? []).map((c) => c.code));
    for (const c of codeSystem.concept ?? []) {
      for (const p of c.property ?? []) {
        expect(declared.has(p.code)).toBe(true);
        if (p.code === 'parent') expect(codes.has(p.valueCode ?? '')).toBe(true);
      }
    }
  });

  const valueSets = terminologyFiles
    .filter((f) => path.basename(f).startsWith('ValueSet-'))
    .map((f) => readJson<ValueSet>(path.join(ROOT, f)));

  it.each(valueSets.map((vs) => [vs.url, vs] as const))(
    '%s lists each code once and only codes the calf-pain CodeSystem defines',
    (_url, vs) => {
      const keys = (vs.compose?.include ?? []).flatMap((inc) => (inc.concept ?? []).map((c) => `${inc.system}|${c.code}`));
      expect(keys.length).toBeGreaterThan(0);
      expect(new Set(keys).size).toBe(keys.length);
      const csCodes = new Map((codeSystem.concept ?? []).map((c) => [c.code, c.display]));
      for (const inc of vs.compose?.include ?? []) {
        if (inc.system !== CS_CALF_PAIN) continue;
        for (const c of inc.concept ?? []) expect(csCodes.get(c.code)).toBe(c.display);
      }
    },
  );

  it('the causes ValueSet covers all seven causes: by SNOMED CT where mapped, else by project code', () => {
    const vs = valueSets.find((v) => v.url === 'http://calfpain.example.org/fhir/ValueSet/calf-pain-causes');
    const included = new Set((vs?.compose?.include ?? []).flatMap((inc) => (inc.concept ?? []).map((c) => `${inc.system}|${c.code}`)));
    for (const cause of CAUSE_CODES) {
      const concept = codeSystem.concept?.find((c) => c.code === cause);
      const snomed = (concept?.property ?? [])
        .filter((p) => p.code === 'snomed-ct')
        .map((p) => `${p.valueCoding?.system}|${p.valueCoding?.code}`);
      if (snomed.length > 0) {
        for (const key of snomed) expect(included.has(key)).toBe(true);
        expect(included.has(`${CS_CALF_PAIN}|${cause}`)).toBe(false);
      } else {
        expect(included.has(`${CS_CALF_PAIN}|${cause}`)).toBe(true);
      }
    }
    expect(included.has('http://snomed.info/sct|128053003')).toBe(true);
    expect(included.has('http://snomed.info/sct|11654001')).toBe(true);
    expect(included.has('http://snomed.info/sct|279069000')).toBe(false);
  });
});

describe('every Questionnaire and terminology resource is valid FHIR R4 (@medplum/core validator)', () => {
  it.each([...questionnaireFiles, ...terminologyFiles])('%s', (file) => {
    expect(validateR4(readJson<Resource>(path.join(ROOT, file)))).toEqual([]);
  });
});
