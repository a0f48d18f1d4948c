import fs from 'fs';
import path from 'path';
import type {
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  QuestionnaireResponseItemAnswer,
  ValueSet,
} from 'fhir/r4';
import { validateResponse, compileQuestionnaire } from '../src/clinical/validate-response';
import { resolveQuestionnaire, isProblem, compareVersions } from '../src/clinical/resolve-questionnaire';
import type { Problem } from '../src/core/outcome';

const fixture = <T>(name: string): T => JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'validation', name), 'utf8')) as T;

const types = fixture<Questionnaire>('answer-types.questionnaire.json');
const enableWhen = fixture<Questionnaire>('enable-when.questionnaire.json');
const valueSets = fixture<ValueSet[]>('value-sets.json');

type Status = QuestionnaireResponse['status'];

function response(item: QuestionnaireResponseItem[], status: Status = 'completed', q: Questionnaire = types): QuestionnaireResponse {
  return { resourceType: 'QuestionnaireResponse', status, questionnaire: `${q.url}|${q.version}`, item };
}
const answer = (linkId: string, ...answers: QuestionnaireResponseItemAnswer[]): QuestionnaireResponseItem => ({ linkId, answer: answers });
const group = (linkId: string, ...item: QuestionnaireResponseItem[]): QuestionnaireResponseItem => ({ linkId, item });
/** The smallest complete response to answer-types: its only required question. */
const history = (...extra: QuestionnaireResponseItem[]) => group('history', answer('smoker', { valueBoolean: false }), ...extra);

const validate = (qr: QuestionnaireResponse, q: Questionnaire = types) => validateResponse(qr, q, { valueSets });
const errors = (problems: Problem[]) => problems.filter((p) => p.severity === 'error');
const only = (problems: Problem[]) => {
  expect(problems).toHaveLength(1);
  return problems[0];
};

describe('QuestionnaireResponse item structure', () => {
  it('accepts a response whose items all exist, in place and in order', () => {
    expect(
      validate(
        response([
          history(answer('weight', { valueDecimal: 71.5 })),
          group('choices', answer('side', { valueCoding: { system: 'http://example.org/sides', code: 'left' } })),
        ]),
      ),
    ).toEqual([]);
  });

  it('rejects a linkId that is not in the Questionnaire', () => {
    const p = only(validate(response([history(), answer('shoe-size', { valueInteger: 42 })])));
    expect(p.expression).toBe('QuestionnaireResponse.item[1]');
    expect(p.message).toBe('Item "shoe-size" is not in Questionnaire http://example.org/fhir/Questionnaire/answer-types');
  });

  it('rejects an item placed under the wrong parent', () => {
    const p = only(validate(response([history(), answer('weight', { valueDecimal: 70 })])));
    expect(p.expression).toBe('QuestionnaireResponse.item[1]');
    expect(p.message).toContain('Item "weight" is misplaced');
    expect(p.message).toContain('group "history"');
  });

  it("puts a question's children under answer.item, not item", () => {
    const good = response([
      history(),
      { linkId: 'injury', answer: [{ valueBoolean: true, item: [answer('injury-details', { valueString: 'fell' })] }] },
    ]);
    expect(validate(good)).toEqual([]);

    const bad = response([
      history(),
      { linkId: 'injury', answer: [{ valueBoolean: true }], item: [answer('injury-details', { valueString: 'fell' })] },
    ]);
    const problems = validate(bad);
    expect(problems).toContainEqual(
      expect.objectContaining({
        expression: 'QuestionnaireResponse.item[1].item[0]',
        message: 'Question "injury" cannot contain items directly: nested items belong in answer.item',
      }),
    );
  });

  it('rejects items out of Questionnaire order', () => {
    const p = only(validate(response([group('choices', answer('colour', { valueString: 'red' })), history()])));
    expect(p.expression).toBe('QuestionnaireResponse.item[1]');
    expect(p.message).toBe('Item "history" is out of order: the Questionnaire puts it before "choices"');
  });

  it('allows a repeating group more than once but no other item', () => {
    const med = (name: string) => group('medication', answer('medication-name', { valueString: name }));
    expect(validate(response([history(), med('aspirin'), med('warfarin')]))).toEqual([]);

    const p = only(validate(response([history(), answer('score', { valueInteger: 1 }), answer('score', { valueInteger: 2 })])));
    expect(p.expression).toBe('QuestionnaireResponse.item[2]');
    expect(p.message).toBe('Item "score" appears more than once: give repeated answers in one item\'s answer list');

    const g = only(validate(response([history(), group('choices'), group('choices')])));
    expect(g).toMatchObject({
      expression: 'QuestionnaireResponse.item[2]',
      message: 'Group "choices" appears more than once but does not repeat',
    });
  });

  it('does not compare item text with the Questionnaire', () => {
    const qr = response([
      { linkId: 'history', text: 'Something else', item: [{ linkId: 'smoker', text: 'Fumeur ?', answer: [{ valueBoolean: true }] }] },
    ]);
    expect(validate(qr)).toEqual([]);
  });

  it('rejects answers on a group', () => {
    const p = only(validate(response([{ ...history(), answer: [{ valueBoolean: true }] }])));
    expect(p.expression).toBe('QuestionnaireResponse.item[0].answer[0]');
    expect(p.message).toBe('Group "history" cannot have answers: answer the items it contains');
  });

  it('rejects answers on a display item and warns when one appears', () => {
    const answered = only(validate(response([answer('intro', { valueString: 'ok' }), history()])));
    expect(answered).toMatchObject({
      severity: 'error',
      expression: 'QuestionnaireResponse.item[0].answer[0]',
      message: 'Display item "intro" cannot have answers',
    });

    const present = only(validate(response([{ linkId: 'intro', text: 'Answer what you can.' }, history()])));
    expect(present).toMatchObject({ severity: 'warning', expression: 'QuestionnaireResponse.item[0]' });
    expect(present.message).toBe('Display item "intro" should not appear in a QuestionnaireResponse');
  });

  it('reports every problem, not just the first', () => {
    const qr = response([
      group('history', answer('weight', { valueString: 'heavy' }), answer('children', { valueInteger: 1 }, { valueInteger: 2 })),
      answer('nope', { valueBoolean: true }),
    ]);
    expect(errors(validate(qr)).map((p) => p.expression)).toEqual([
      'QuestionnaireResponse.item[0].item[0].answer[0].valueString',
      'QuestionnaireResponse.item[0].item[1].answer[1]',
      'QuestionnaireResponse.item[0]',
      'QuestionnaireResponse.item[1]',
    ]);
  });
});

describe('answer values', () => {
  it.each<[string, QuestionnaireResponseItemAnswer]>([
    ['smoker', { valueBoolean: true }],
    ['weight', { valueDecimal: 80.2 }],
    ['children', { valueInteger: 2 }],
    ['onset-date', { valueDate: '2024-02-01' }],
    ['onset-moment', { valueDateTime: '2024-02-01T10:00:00Z' }],
    ['onset-time', { valueTime: '10:00:00' }],
    ['initials', { valueString: 'JD' }],
    ['notes', { valueString: 'long text' }],
    ['website', { valueUri: 'https://example.org' }],
    ['photo', { valueAttachment: { contentType: 'image/png', url: 'https://example.org/p.png' } }],
    ['gp', { valueReference: { reference: 'Practitioner/1' } }],
    ['calf-girth', { valueQuantity: { value: 38, unit: 'cm', system: 'http://unitsofmeasure.org', code: 'cm' } }],
  ])('accepts the value type of item %s', (linkId, value) => {
    const items = linkId === 'smoker' ? [answer('smoker', value)] : [answer('smoker', { valueBoolean: false }), answer(linkId, value)];
    expect(validate(response([group('history', ...items)]))).toEqual([]);
  });

  it.each<[string, QuestionnaireResponseItemAnswer, string]>([
    ['weight', { valueInteger: 80 }, 'valueDecimal'],
    ['children', { valueDecimal: 1.5 }, 'valueInteger'],
    ['onset-date', { valueDateTime: '2024-02-01T10:00:00Z' }, 'valueDate'],
    ['onset-moment', { valueDate: '2024-02-01' }, 'valueDateTime'],
    ['onset-time', { valueString: '10:00' }, 'valueTime'],
    ['notes', { valueCoding: { code: 'x' } }, 'valueString'],
    ['website', { valueString: 'https://example.org' }, 'valueUri'],
    ['photo', { valueUri: 'https://example.org/p.png' }, 'valueAttachment'],
    ['gp', { valueString: 'Dr Who' }, 'valueReference'],
    ['calf-girth', { valueDecimal: 38 }, 'valueQuantity'],
  ])('rejects the wrong value type for item %s', (linkId, value, expected) => {
    const p = only(validate(response([history(answer(linkId, value))])));
    const given = Object.keys(value)[0];
    expect(p.expression).toBe(`QuestionnaireResponse.item[0].item[1].answer[0].${given}`);
    expect(p.message).toMatch(new RegExp(`^Answer to "${linkId}" \\(type [a-zA-Z]+\\) must be ${expected}, not ${given}$`));
  });

  it('checks that the JSON value fits its type', () => {
    const p = only(validate(response([group('history', answer('smoker', { valueBoolean: 'yes' as unknown as boolean }))])));
    expect(p.expression).toBe('QuestionnaireResponse.item[0].item[0].answer[0].valueBoolean');
    expect(p.message).toBe('Answer to "smoker" has an invalid valueBoolean: "yes"');
  });

  it('requires exactly one value in each answer', () => {
    const none = only(validate(response([history(answer('weight', {}))])));
    expect(none).toMatchObject({
      expression: 'QuestionnaireResponse.item[0].item[1].answer[0]',
      message: 'Answer to "weight" has no value',
    });

    const two = only(validate(response([history(answer('weight', { valueDecimal: 1, valueString: 'one' }))])));
    expect(two.message).toBe('Answer to "weight" has more than one value (valueDecimal, valueString)');
  });

  it('allows one answer unless the item repeats', () => {
    const symptom = (code: string) => ({ valueCoding: { system: 'http://example.org/symptoms', code } });
    expect(validate(response([history(), group('choices', answer('symptoms', symptom('swelling'), symptom('warmth')))]))).toEqual([]);

    const p = only(validate(response([history(answer('children', { valueInteger: 1 }, { valueInteger: 2 }))])));
    expect(p.expression).toBe('QuestionnaireResponse.item[0].item[1].answer[1]');
    expect(p.message).toBe('Item "children" does not repeat but has 2 answers');
  });

  it('enforces maxLength on strings', () => {
    expect(validate(response([history(answer('initials', { valueString: 'ABCDE' }))]))).toEqual([]);
    const p = only(validate(response([history(answer('initials', { valueString: 'ABCDEF' }))])));
    expect(p.expression).toBe('QuestionnaireResponse.item[0].item[1].answer[0].valueString');
    expect(p.message).toBe('Answer to "initials" is 6 characters long; maxLength is 5');
  });

  it('accepts a readOnly calculated item with any value of its type, and only of its type', () => {
    // children = 1 so the calculation gives 1; the server recomputes, 99 is not checked.
    expect(validate(response([history(answer('children', { valueInteger: 1 })), answer('score', { valueInteger: 99 })]))).toEqual([]);
    const p = only(validate(response([history(), answer('score', { valueString: '99' })])));
    expect(p.expression).toBe('QuestionnaireResponse.item[1].answer[0].valueString');
    expect(p.message).toBe('Answer to "score" (type integer) must be valueInteger, not valueString');
  });
});

describe('choice answers', () => {
  const choices = (...items: QuestionnaireResponseItem[]) => response([history(), group('choices', ...items)]);

  it('matches a Coding answerOption on system and code', () => {
    expect(
      validate(choices(answer('side', { valueCoding: { system: 'http://example.org/sides', code: 'right', display: 'anything' } }))),
    ).toEqual([]);
    const p = only(validate(choices(answer('side', { valueCoding: { system: 'http://example.org/other', code: 'right' } }))));
    expect(p.expression).toBe('QuestionnaireResponse.item[1].item[0].answer[0].valueCoding');
    expect(p.message).toBe('Answer to "side" is not one of its answer options: http://example.org/other|right');
  });

  it('matches on code alone when the option has no system', () => {
    expect(validate(choices(answer('side', { valueCoding: { system: 'http://example.org/sides', code: 'both' } })))).toEqual([]);
    expect(validate(choices(answer('side', { valueCoding: { code: 'both' } })))).toEqual([]);
  });

  it('accepts an answer Coding without a system when its code is an option (a different system is refused)', () => {
    expect(validate(choices(answer('side', { valueCoding: { code: 'right' } })))).toEqual([]);
    expect(only(validate(choices(answer('side', { valueCoding: { code: 'middle' } })))).message).toBe(
      'Answer to "side" is not one of its answer options: middle',
    );
  });

  it('takes valueString for a choice only when its options are strings', () => {
    expect(validate(choices(answer('colour', { valueString: 'pale' })))).toEqual([]);
    expect(only(validate(choices(answer('colour', { valueString: 'blue' })))).message).toBe(
      'Answer to "colour" is not one of its answer options: "blue"',
    );
    expect(only(validate(choices(answer('colour', { valueCoding: { code: 'pale' } })))).message).toBe(
      'Answer to "colour" (type choice) must be valueString, not valueCoding',
    );
    expect(only(validate(choices(answer('side', { valueString: 'left' })))).message).toBe(
      'Answer to "side" (type choice) must be valueCoding, not valueString',
    );
  });

  it('accepts free text or an option Coding for open-choice', () => {
    expect(validate(choices(answer('pain-kind', { valueString: 'burning' })))).toEqual([]);
    expect(validate(choices(answer('pain-kind', { valueCoding: { system: 'http://example.org/pain', code: 'ache' } })))).toEqual([]);
    const p = only(validate(choices(answer('pain-kind', { valueCoding: { system: 'http://example.org/pain', code: 'burning' } }))));
    expect(p.message).toBe('Answer to "pain-kind" is not one of its answer options: http://example.org/pain|burning');
  });

  it('checks answerValueSet against the expansion, nested contains included', () => {
    expect(validate(choices(answer('cause', { valueCoding: { system: 'http://snomed.info/sct', code: '55214007' } })))).toEqual([]);
    const p = only(validate(choices(answer('cause', { valueCoding: { system: 'http://snomed.info/sct', code: '22298006' } }))));
    expect(p.expression).toBe('QuestionnaireResponse.item[1].item[0].answer[0].valueCoding');
    expect(p.message).toBe('Answer to "cause" is not in ValueSet http://example.org/fhir/ValueSet/causes: http://snomed.info/sct|22298006');
  });

  it('checks answerValueSet against the compose concepts of the requested version', () => {
    expect(validate(choices(answer('site', { valueCoding: { system: 'http://example.org/sites', code: 'calf' } })))).toEqual([]);
    // "thigh" is only in version 1.0.0.
    const p = only(validate(choices(answer('site', { valueCoding: { system: 'http://example.org/sites', code: 'thigh' } }))));
    expect(p.message).toContain('is not in ValueSet http://example.org/fhir/ValueSet/sites|2.0.0');
  });

  it('resolves a contained answerValueSet', () => {
    expect(validate(choices(answer('local-side', { valueCoding: { system: 'http://example.org/sides', code: 'left' } })))).toEqual([]);
    expect(
      only(validate(choices(answer('local-side', { valueCoding: { system: 'http://example.org/sides', code: 'both' } })))).message,
    ).toBe('Answer to "local-side" is not in ValueSet #local-sides: http://example.org/sides|both');
  });

  it('warns when the answerValueSet is not available', () => {
    const p = only(validate(choices(answer('unavailable', { valueCoding: { system: 'http://example.org/x', code: 'y' } }))));
    expect(p.severity).toBe('warning');
    expect(p.message).toBe('Cannot check the answer to "unavailable": ValueSet http://example.org/fhir/ValueSet/nowhere is not available');
  });
});

describe('required items', () => {
  it('reports a missing required item when the response is completed or amended', () => {
    for (const status of ['completed', 'amended'] as Status[]) {
      const p = only(validate(response([group('history', answer('weight', { valueDecimal: 70 }))], status)));
      expect(p.expression).toBe('QuestionnaireResponse.item[0]');
      expect(p.message).toBe('Required item "smoker" (Do you smoke?) is not answered');
      expect(p.code).toBe('required');
    }
  });

  it('says nothing about missing required items while in progress', () => {
    expect(validate(response([group('history', answer('weight', { valueDecimal: 70 }))], 'in-progress'))).toEqual([]);
    expect(validate(response([], 'in-progress'))).toEqual([]);
  });

  it('requires items inside a present repeating group and inside an answer, not inside an absent group', () => {
    expect(validate(response([history()]))).toEqual([]); // medication groups absent
    const problems = validate(
      response([
        history(),
        { linkId: 'injury', answer: [{ valueBoolean: true, item: [] }] },
        group('medication', answer('medication-dose', { valueString: '1 mg' })),
      ]),
    );
    expect(problems).toEqual([
      expect.objectContaining({
        expression: 'QuestionnaireResponse.item[1].answer[0]',
        message: 'Required item "injury-details" (What happened?) is not answered',
      }),
      expect.objectContaining({ expression: 'QuestionnaireResponse.item[2]', message: 'Required item "medication-name" is not answered' }),
    ]);
  });

  it('treats a required group with no answers as unanswered', () => {
    const q: Questionnaire = { ...types, item: [{ linkId: 'g', type: 'group', required: true, item: [{ linkId: 'x', type: 'string' }] }] };
    compileQuestionnaire(q);
    const p = only(validateResponse(response([group('g')], 'completed', q), q));
    expect(p).toMatchObject({ expression: 'QuestionnaireResponse', message: 'Required item "g" is not answered' });
  });

  it('does not require a disabled item', () => {
    const qr = (bool: boolean) =>
      response(
        [group('triggers', answer('t-bool', { valueBoolean: bool })), group('dependents', answer('dep-exists-true', { valueString: 'x' }))],
        'completed',
        enableWhen,
      );
    expect(validateResponse(qr(false), enableWhen)).toEqual([]);
    const p = only(validateResponse(qr(true), enableWhen));
    expect(p).toMatchObject({ expression: 'QuestionnaireResponse.item[1]', message: 'Required item "dep-required" is not answered' });
  });
});

describe('enableWhen', () => {
  type Trigger = [string, QuestionnaireResponseItemAnswer];
  /** Answers the given triggers and the dependent item; returns the problems about the dependent. */
  function answerDependent(dependent: string, ...triggers: Trigger[]): Problem[] {
    const qr = response(
      [
        group('triggers', ...triggers.map(([linkId, a]) => answer(linkId, a))),
        group('dependents', answer(dependent, { valueString: 'x' })),
      ],
      'in-progress',
      enableWhen,
    );
    return validateResponse(qr, enableWhen);
  }
  const yes = { valueCoding: { system: 'http://example.org/yes-no', code: 'yes' } };
  const no = { valueCoding: { system: 'http://example.org/yes-no', code: 'no' } };
  const cm = (value: number) => ({ valueQuantity: { value, unit: 'cm', system: 'http://unitsofmeasure.org', code: 'cm' } });

  it.each<[string, string, Trigger[], boolean]>([
    ['exists true, answered', 'dep-exists-true', [['t-bool', { valueBoolean: false }]], true],
    ['exists true, unanswered', 'dep-exists-true', [], false],
    ['exists false, unanswered', 'dep-exists-false', [], true],
    ['exists false, answered', 'dep-exists-false', [['t-string', { valueString: 'a' }]], false],
    ['boolean =, equal', 'dep-bool-eq', [['t-bool', { valueBoolean: true }]], true],
    ['boolean =, different', 'dep-bool-eq', [['t-bool', { valueBoolean: false }]], false],
    ['coding =, same system and code', 'dep-coding-eq', [['t-coding', yes]], true],
    ['coding =, other code', 'dep-coding-eq', [['t-coding', no]], false],
    ['coding !=, other code', 'dep-coding-ne', [['t-coding', no]], true],
    ['coding !=, unanswered', 'dep-coding-ne', [], true],
    ['coding !=, equal', 'dep-coding-ne', [['t-coding', yes]], false],
    ['decimal >, above', 'dep-decimal-gt', [['t-decimal', { valueDecimal: 38.2 }]], true],
    ['decimal >, equal', 'dep-decimal-gt', [['t-decimal', { valueDecimal: 37.5 }]], false],
    ['decimal >, unanswered', 'dep-decimal-gt', [], false],
    ['integer <, below', 'dep-integer-lt', [['t-integer', { valueInteger: 17 }]], true],
    ['integer <, equal', 'dep-integer-lt', [['t-integer', { valueInteger: 18 }]], false],
    ['integer >=, equal', 'dep-integer-ge', [['t-integer', { valueInteger: 65 }]], true],
    ['integer >=, below', 'dep-integer-ge', [['t-integer', { valueInteger: 64 }]], false],
    ['date <=, equal', 'dep-date-le', [['t-date', { valueDate: '2024-01-31' }]], true],
    ['date <=, before', 'dep-date-le', [['t-date', { valueDate: '2023-12-31' }]], true],
    ['date <=, after', 'dep-date-le', [['t-date', { valueDate: '2024-02-01' }]], false],
    ['string =, equal', 'dep-string-eq', [['t-string', { valueString: 'stairs' }]], true],
    ['string =, different', 'dep-string-eq', [['t-string', { valueString: 'Stairs' }]], false],
    ['quantity >, larger in the same unit', 'dep-quantity-gt', [['t-quantity', cm(4)]], true],
    ['quantity >, smaller', 'dep-quantity-gt', [['t-quantity', cm(2)]], false],
    [
      'quantity >, other unit',
      'dep-quantity-gt',
      [['t-quantity', { valueQuantity: { value: 40, unit: 'mm', system: 'http://unitsofmeasure.org', code: 'mm' } }]],
      false,
    ],
  ])('operator %s', (_name, dependent, triggers, enabled) => {
    const problems = answerDependent(dependent, ...triggers);
    if (enabled) {
      expect(problems).toEqual([]);
    } else {
      const p = only(problems);
      expect(p.expression).toBe('QuestionnaireResponse.item[1].item[0].answer[0]');
      expect(p.message).toBe(`Item "${dependent}" must not be answered: it is disabled (enableWhen not met)`);
    }
  });

  it('combines conditions with enableBehavior any and all', () => {
    expect(answerDependent('dep-any', ['t-bool', { valueBoolean: false }], ['t-integer', { valueInteger: 70 }])).toEqual([]);
    expect(answerDependent('dep-any', ['t-bool', { valueBoolean: false }], ['t-integer', { valueInteger: 30 }])).toHaveLength(1);
    expect(answerDependent('dep-all', ['t-bool', { valueBoolean: true }], ['t-integer', { valueInteger: 70 }])).toEqual([]);
    expect(only(answerDependent('dep-all', ['t-bool', { valueBoolean: true }], ['t-integer', { valueInteger: 30 }])).message).toBe(
      'Item "dep-all" must not be answered: it is disabled (enableWhen not met)',
    );
  });

  it('evaluates the SDC enableWhenExpression with %resource and Questionnaire variables', () => {
    expect(answerDependent('dep-expression', ['t-integer', { valueInteger: 41 }])).toEqual([]);
    expect(only(answerDependent('dep-expression', ['t-integer', { valueInteger: 40 }])).message).toBe(
      'Item "dep-expression" must not be answered: it is disabled (enableWhenExpression not met)',
    );
    // An empty result means disabled.
    expect(answerDependent('dep-expression')).toHaveLength(1);
  });

  it('disables every descendant of a disabled group', () => {
    const qr = (bool: boolean) =>
      response(
        [
          group('triggers', answer('t-bool', { valueBoolean: bool })),
          group(
            'followup',
            answer('followup-detail', { valueString: 'a' }),
            group('followup-more', answer('followup-more-detail', { valueString: 'b' })),
          ),
        ],
        'in-progress',
        enableWhen,
      );
    expect(validateResponse(qr(true), enableWhen)).toEqual([]);
    expect(validateResponse(qr(false), enableWhen)).toEqual([
      expect.objectContaining({
        expression: 'QuestionnaireResponse.item[1].item[0].answer[0]',
        message: 'Item "followup-detail" must not be answered: it is inside "followup", which is disabled',
      }),
      expect.objectContaining({
        expression: 'QuestionnaireResponse.item[1].item[1].item[0].answer[0]',
        message: 'Item "followup-more-detail" must not be answered: it is inside "followup", which is disabled',
      }),
    ]);
  });

  it('looks up the enableWhen question in the same repeating group instance', () => {
    const episode = (severe: boolean) =>
      group('episode', answer('episode-severe', { valueBoolean: severe }), answer('episode-detail', { valueString: 'x' }));
    const problems = validateResponse(response([episode(true), episode(false)], 'in-progress', enableWhen), enableWhen);
    expect(only(problems).expression).toBe('QuestionnaireResponse.item[1].item[1].answer[0]');
  });
});

describe('compiled Questionnaire', () => {
  it('is compiled once and reused', () => {
    expect(compileQuestionnaire(enableWhen)).toBe(compileQuestionnaire(enableWhen));
  });

  it('reports an enableWhenExpression that does not parse', () => {
    const broken: Questionnaire = JSON.parse(JSON.stringify(enableWhen));
    const dep = broken.item![1].item!.find((i) => i.linkId === 'dep-expression') as QuestionnaireItem;
    dep.extension![0].valueExpression!.expression = "%resource.item.where(linkId = 'x'";
    const problems = validateResponse(response([], 'in-progress', broken), broken);
    expect(problems).toHaveLength(1);
    expect(problems[0].message).toMatch(/^Questionnaire enableWhenExpression of item "dep-expression" does not compile/);
  });
});

describe('resolveQuestionnaire', () => {
  const v = (version: string, id = `q-${version}`): Questionnaire => ({
    resourceType: 'Questionnaire',
    id,
    status: 'active',
    url: 'http://example.org/q',
    version,
  });
  const all = [v('1.9.0'), v('1.10.0'), v('1.10.0-draft', 'draft'), v('0.1.0')];

  it('picks the latest version for a bare url', () => {
    expect((resolveQuestionnaire('http://example.org/q', all) as Questionnaire).version).toBe('1.10.0');
  });

  it('picks the exact version for url|version', () => {
    expect((resolveQuestionnaire('http://example.org/q|1.9.0', all) as Questionnaire).id).toBe('q-1.9.0');
  });

  it('accepts a relative Questionnaire/{id} reference', () => {
    expect((resolveQuestionnaire('Questionnaire/draft', all) as Questionnaire).version).toBe('1.10.0-draft');
  });

  it('requires QuestionnaireResponse.questionnaire', () => {
    const p = resolveQuestionnaire(undefined, all);
    expect(isProblem(p)).toBe(true);
    expect(p).toMatchObject({
      expression: 'QuestionnaireResponse.questionnaire',
      message: 'QuestionnaireResponse.questionnaire is required',
    });
  });

  it('names an unknown Questionnaire', () => {
    expect(resolveQuestionnaire('http://example.org/other', all)).toMatchObject({
      message: 'Unknown Questionnaire "http://example.org/other"',
      code: 'not-found',
    });
    expect((resolveQuestionnaire('http://example.org/q|2.0.0', all) as Problem).message).toBe(
      'Unknown Questionnaire "http://example.org/q|2.0.0" (known versions: 1.9.0, 1.10.0, 1.10.0-draft, 0.1.0)',
    );
    expect((resolveQuestionnaire('Questionnaire/missing', all) as Problem).message).toBe('Unknown Questionnaire "Questionnaire/missing"');
  });

  it('orders versions numerically, releases after pre-releases', () => {
    expect(compareVersions('1.10.0', '1.9.0')).toBe(1);
    expect(compareVersions('1.0.0-draft', '1.0.0')).toBe(-1);
    expect(compareVersions(undefined, '0.0.1')).toBe(-1);
    expect(compareVersions('2', '2')).toBe(0);
  });
});

describe('the calf-pain Questionnaire', () => {
  const calfPainPath = path.join(__dirname, '..', 'questionnaires', 'calf-pain.json');
  const calfPain = JSON.parse(fs.readFileSync(calfPainPath, 'utf8')) as Questionnaire;

  /** Answers every enabled question: booleans false except recent-injury, first option for choices. */
  function complete(skipGroups: string[] = []): QuestionnaireResponse {
    const answerFor = (q: QuestionnaireItem): QuestionnaireResponseItemAnswer | undefined => {
      switch (q.type) {
        case 'boolean':
          return { valueBoolean: q.linkId === 'recent-injury' };
        case 'choice':
          return { valueCoding: q.answerOption![0].valueCoding };
        case 'integer':
          return { valueInteger: 0 };
        case 'string':
        case 'text':
          return q.linkId === 'injury-details' ? { valueString: 'Twisted it playing football' } : undefined;
        default:
          return undefined;
      }
    };
    const build = (items: QuestionnaireItem[]): QuestionnaireResponseItem[] =>
      items.flatMap((q): QuestionnaireResponseItem[] => {
        if (q.type === 'display' || skipGroups.includes(q.linkId)) return [];
        if (q.type === 'group') return [{ linkId: q.linkId, item: build(q.item ?? []) }];
        const a = answerFor(q);
        return a ? [{ linkId: q.linkId, text: q.text, answer: [a] }] : [];
      });
    return {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      questionnaire: `${calfPain.url}|${calfPain.version}`,
      item: build(calfPain.item ?? []),
    };
  }

  it('accepts a complete response', () => {
    const qr = complete();
    expect(qr.item!.map((i) => i.linkId)).toEqual(['history', 'risk-factors', 'examination', 'red-flags', 'wells-score']);
    expect(validateResponse(qr, calfPain)).toEqual([]);
  });

  it('accepts a completed response without the examination', () => {
    expect(validateResponse(complete(['examination']), calfPain)).toEqual([]);
  });

  it('refuses injury details when no recent injury is reported', () => {
    const qr = complete();
    const history = qr.item![0].item!;
    history.find((i) => i.linkId === 'recent-injury')!.answer = [{ valueBoolean: false }];
    const index = history.findIndex((i) => i.linkId === 'injury-details');
    expect(only(validateResponse(qr, calfPain))).toMatchObject({
      expression: `QuestionnaireResponse.item[0].item[${index}].answer[0]`,
      message: 'Item "injury-details" must not be answered: it is disabled (enableWhen not met)',
    });
  });
});
